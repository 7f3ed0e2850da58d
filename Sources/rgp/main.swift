import Commands

Launch.relaunchWithFittingKernelsIfNeeded()

RGPTool.main()
