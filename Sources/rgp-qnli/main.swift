import Commands

Launch.relaunchWithFittingKernelsIfNeeded()

// `rgp finetune --task qnli` with the task's defaults from the RGP authors' latest settings.
TaskFinetune.main(task: .qnli)
