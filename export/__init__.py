"""Export of trained generators as SavedModels compatible with the BigGAN TF-Hub modules."""
