import Commands
import Numerics

BLASKernels.relaunchWithFittingKernelsIfNeeded()

RGPTool.main()
