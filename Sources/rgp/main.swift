import Commands

RGPTool.main()
