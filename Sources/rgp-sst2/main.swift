import Commands

Launch.relaunchWithFittingKernelsIfNeeded()

// `rgp finetune --task sst2` with the task's defaults from the RGP authors' latest settings.
TaskFinetune.main(task: .sst2)
