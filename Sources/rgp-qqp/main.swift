import Commands

Launch.relaunchWithFittingKernelsIfNeeded()

// `rgp finetune --task qqp` with the task's defaults from the RGP authors' latest settings.
TaskFinetune.main(task: .qqp)
