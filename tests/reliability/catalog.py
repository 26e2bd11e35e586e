"""Rows of the reliability table checked by tests outside tests/reliability (each names its
test; `test_table.py` checks that every named test exists)."""

from tests.reliability.recorder import existing

_F = "tests/data/test_folder.py::"
_R = "tests/data/test_tfrecords.py::"
_T = "tests/data/test_tfds.py::"
_P = "tests/data/test_pipeline.py::"
_PRE = "tests/data/test_preprocessing.py::"
_TR = "tests/training/test_trainer.py::"
_CLI = "tests/training/test_cli.py::"
_M = "tests/models/test_biggan_models.py::"
_E = "tests/export/test_export_hub.py::"
_CT = "tests/convert/test_torch_files.py::"
_CH = "tests/convert/test_hub_modules.py::"
_CP = "tests/export/test_convert_pretrained.py::"
_G = "tests/test_gan.py::"
_PRE_T = "tests/training/test_preemption.py::"
_OV = "tests/test_config_overrides.py::"
_SN = "tests/layers/test_spectral_norm.py::"

ROWS = [
    # Data: image folders.
    existing(_F + "test_unreadable_file_is_named", "Data", "Zero-byte image file",
             "ValueError naming the file; `skip_corrupt=True` leaves it out",
             "cannot be read (the file is empty (0 bytes)"),
    existing(_F + "test_unreadable_file_is_named", "Data", "Corrupt PNG (not an image)",
             "ValueError naming the file and the decoder's error", "UnidentifiedImageError"),
    existing(_F + "test_truncated_file_is_named", "Data", "Truncated JPEG/PNG",
             "ValueError naming the file", "cannot be read"),
    existing(_F + "test_skip_corrupt_counts_and_logs", "Data",
             "Corrupt files with `skip_corrupt=True`", "left out, counted and logged"),
    existing(_F + "test_too_small_image_named_with_size", "Data",
             "Image smaller than the resolution", "ValueError naming the file and its size"),
    existing(_F + "test_class_folder_without_images", "Data", "Class folder with no images",
             "ValueError naming the folder", "contains no images; accepted extensions"),
    existing(_F + "test_no_class_folders", "Data", "Folder without class sub-folders",
             "ValueError", "no class sub-folders"),
    existing(_F + "test_missing_directory", "Data", "Missing data directory",
             "FileNotFoundError naming it"),
    existing(_F + "test_more_class_folders_than_num_classes", "Data",
             "More class folders than `num_classes` (labels out of range)",
             "ValueError with both counts", "num_classes=1"),
    # Data: preprocessing.
    existing(_PRE + "test_grey_and_alpha_images_become_rgb", "Data",
             "Grayscale and RGBA image tensors", "converted to RGB"),
    existing(_PRE + "test_to_rgb_with_channels_known_only_at_run_time", "Data",
             "Image with 5 channels", "ValueError", "1, 2, 3 or 4 channels, got 5"),
    existing(_PRE + "test_too_small_image_fails_unless_upscaling_is_allowed", "Data",
             "Image smaller than the resolution (in the pipeline)",
             "InvalidArgumentError unless `allow_upscale`",
             "smaller than the target resolution"),
    # Data: TFRecords and TFDS.
    existing(_R + "test_missing_files", "Data", "TFRecord pattern matching no file",
             "FileNotFoundError naming the pattern", "No TFRecord files found"),
    existing(_R + "test_empty_records", "Data", "Empty TFRecord dataset",
             "ValueError", "hold no usable records"),
    existing(_R + "test_corrupt_record_named_or_skipped", "Data", "Corrupt TFRecord",
             "ValueError naming the record, or skipped with `skip_corrupt`", "skip_corrupt"),
    existing(_R + "test_label_out_of_range", "Data", "TFRecord label out of range",
             "ValueError naming the record and label", "out of range for num_classes=5"),
    existing(_R + "test_missing_feature_key", "Data", "TFRecord without the image feature",
             "ValueError listing its features", "no feature 'image'; its features are"),
    existing(_R + "test_too_small_image", "Data", "TFRecord image smaller than the resolution",
             "ValueError naming the record and size", "allow_upscale"),
    existing(_T + "test_empty_split", "Data", "Empty TFDS split", "ValueError", "is empty"),
    existing(_T + "test_labels_out_of_range", "Data", "TFDS labels out of range",
             "ValueError with both class counts", "out of range for num_classes=2"),
    existing(_T + "test_unknown_name_suggests_close_matches", "Data",
             "Unknown TFDS dataset name", "ValueError suggesting close names",
             "Unknown TFDS dataset name"),
    existing(_T + "test_unknown_split", "Data", "Unknown TFDS split",
             "ValueError listing the splits", "Unknown split 'validation'"),
    existing(_T + "test_not_prepared_and_missing_manual_dir", "Data",
             "TFDS dataset not prepared / missing manual_dir", "FileNotFoundError",
             "is not prepared"),
    existing(_P + "test_config_errors", "Config",
             "Unknown data source / data config key / missing path, negative buffer, zero "
             "batch", "ValueError naming the field and the accepted values",
             "Unknown data config field(s) ['shufle']"),
    existing(_P + "test_batch_not_divisible_by_replicas", "Config",
             "Data batch not divisible by the replicas", "ValueError",
             "is not divisible by the 2 replicas"),
    # Config and flags.
    existing(_TR + "test_bad_config_values_are_named", "Config",
             "Zero, negative, wrongly typed or out-of-range training values (14 cases)",
             "ValueError naming the field, the value and what is accepted",
             "must be a positive integer"),
    existing(_TR + "test_unknown_preset_and_loss_list_the_accepted_names", "Config",
             "Unknown preset or loss", "ValueError listing the accepted names", "accepted: ["),
    existing(_TR + "test_missing_config_field_is_named", "Config", "Missing config field",
             "ValueError naming it", "is missing"),
    existing(_TR + "test_batch_size_not_divisible_by_replicas_is_an_error", "Config",
             "`training.batch_size` not divisible by the replicas", "ValueError",
             "use a multiple of 2"),
    existing(_OV + "test_every_field_is_set_from_the_command_line", "Config",
             "Every field of every shipped config set from the command line (locked config, "
             "the config-file flag of `tfbiggan.train`), fields whose default is None included",
             "each takes the value given; typed placeholders declare the unset fields"),
    existing(_OV + "test_a_data_path_and_loss_option_reach_the_run", "Config",
             "`--config.data.pipeline.path=...` and `--config.training.loss_options."
             "real_label=0.9`", "accepted and passed on (unset loss options are left out)"),
    existing(_CLI + "test_cli_rejects_unknown_keys_and_bad_values", "Config",
             "Unknown config key, wrongly typed flag, unknown strategy on the command line",
             "non-zero exit naming the key/value; nothing written"),
    existing(_CLI + "test_cli_reports_a_bad_config_value_without_a_traceback", "Config",
             "`--config.training.num_d_steps=0`", "exit code 1, no traceback",
             "must be a positive integer, got 0"),
    existing(_CLI + "test_tpu_strategy_without_a_tpu_fails_fast", "Distributed",
             "`--strategy=tpu` without a TPU (no name, local, unreachable address)",
             "fails within 90 s with the reason", "Cannot reach the TPU"),
    # Training.
    existing(_TR + "test_non_finite_loss_stops_with_the_step_and_keeps_the_last_checkpoint",
             "Training", "NaN batch (in-process, `nonfinite=\"stop\"`)",
             "NonFiniteError naming the step; last good checkpoint loadable and restored",
             "Non-finite values at step 3"),
    existing(_G + "test_backup_and_restore_resumes_a_killed_fit_to_the_uninterrupted_weights",
             "Training", "`kill -9` of a Keras `tfbiggan.GAN.fit` in its second epoch "
             "(`BackupAndRestore`, a backup per epoch)",
             "the rerun restores the first epoch's backup (G, D, EMA G, both optimizers, the "
             "step) and ends with the weights of an uninterrupted run; the finished run "
             "removes the backup"),
    existing(_G + "test_bad_compile_arguments_are_named", "Config",
             "Bad `GAN.compile` arguments (7 cases: counts, EMA decay, loss, unknown option)",
             "ValueError naming the argument, the value and what is accepted",
             "`num_d_steps` must be a positive integer, got 0"),
    existing(_G + "test_fit_needs_static_batches_that_split_into_the_updates", "Config",
             "`GAN.fit` on batches without a static size, not divisible into the D updates, "
             "or with one-hot labels", "ValueError saying what the batches must be; nothing "
             "trained", "drop_remainder=True"),
    existing(_PRE_T + "test_sigint_stops_at_the_boundary_with_a_checkpoint_and_the_run_resumes",
             "Training", "SIGINT (twice) during an iteration of `Trainer.train` in-process",
             "`Preempted` (exit status 130) after the checkpoint of that step; the second "
             "signal is logged; handlers and the stop flag are restored; a new `train` resumes",
             "Stopped at step 2: SIGINT received"),
    existing(_PRE_T + "test_signal_during_a_periodic_save_does_not_save_twice", "Training",
             "SIGTERM while a periodic checkpoint is saved (in-process)",
             "the run stops at that step without writing it a second time"),
    existing(_SN + "test_zero_kernel_gives_sigma_zero_and_zero_output_without_nan", "Training",
             "All-zero kernel of a spectrally normalised conv, dense or embedding (σ = 0)",
             "output zero (its bias), no NaN, finite gradients; u kept, σ recovers once the "
             "kernel is non-zero"),
    # Weight converter.
    existing(_M + "test_converter_rejects_bad_state_dicts", "Converter",
             "Missing, extra, mis-shaped and non-numeric state-dict entries; missing config "
             "key", "ValueError naming the entries", "missing entries"),
    # Pretrained sources (tfbiggan.convert, export/convert_pretrained.py).
    existing(_CT + "test_hostile_pickles_are_refused_before_anything_runs", "Converter",
             "PyTorch .pth/.bin whose pickle asks for os.system, builtins.eval, "
             "subprocess.Popen, getattr, a class of its own, a never-imported module, torch.load, "
             "os.system inside a tensor rebuild or an object dtype (9 cases)",
             "UnsafePickleError naming the global when it is read: nothing imported, called or "
             "written (also through convert.load)", "which a state dict never needs"),
    existing(_CT + "test_hostile_opcodes_are_refused", "Converter",
             "Pickle using STACK_GLOBAL (builtins.exec), INST, OBJ, NEWOBJ or BUILD on a "
             "non-state-dict object", "UnsafePickleError naming the opcode or global",
             "which a state dict never needs"),
    existing(_CT + "test_truncated_and_corrupt_archives_are_named", "Converter",
             "PyTorch archive cut short, with a bad CRC, a legacy stream cut short, a missing "
             "storage record or a tensor past its storage", "ValueError naming the file "
             "and the problem", "damaged or truncated"),
    existing(_CT + "test_files_that_are_no_state_dict_are_named", "Converter",
             "A file that is no state dict (a GIF, a zip of text, a pickled list)",
             "ValueError saying what the file looks like and what is accepted",
             "is not a state dict file"),
    existing(_CH + "test_tar_gz_module_is_extracted_and_detected", "Converter",
             "Truncated TF-Hub module .tar.gz", "ValueError; the extraction is removed",
             "damaged or truncated"),
    existing(_CH + "test_module_missing_variables_is_named", "Converter",
             "TF-Hub module missing variables", "ValueError listing them and the architecture",
             "lacks 2 variable(s) of a BigGAN 128×128 generator"),
    existing(_CH + "test_shape_that_fits_no_architecture_is_named", "Converter",
             "TF-Hub module variable with a shape no architecture has",
             "ValueError naming the variable, its shape and the expected one",
             "the weights fit no architecture"),
    existing(_CH + "test_deep_module_without_truncation_statistics_is_named", "Converter",
             "BigGAN-deep module whose graph lacks truncation statistics",
             "ValueError naming the first missing tensor",
             "lacks the truncation statistics"),
    existing(_CH + "test_deep_module_lists_unused_variables_and_the_preset", "Converter",
             "TF-Hub module with bookkeeping variables (step counter, non-EMA copy)",
             "converted; the unused variables listed in a warning", "variable(s) of the module"),
    existing(_CP + "test_failed_verification_writes_nothing", "Converter",
             "`convert_pretrained --verify` finding a difference above the tolerance",
             "VerificationError; no output and no staging directory left",
             "Nothing was written"),
    # Exported module (hand-written cases; the generated ones are in test_hostile_module).
    existing(_E + "test_sample_rejects_bad_classes", "Exported module",
             "`sample` with class ids out of range or a y count that is neither 1 nor num",
             "InvalidArgumentError", "class ids must be in [0, 10)"),
    existing(_E + "test_atomic_write", "Exported module",
             "Export interrupted while writing", "the previous module stays in place"),
]
