//! `image-train eval --bpd`: the variational bound of a run or a diffusers pipeline on a folder of
//! held-out images, in bits per dimension (see `ddpm_run::evaluate_bound`).

use burn::tensor::Device;
use ddpm_run::{SampleSource, evaluate_bound};

use crate::cli::EvalArgs;
use crate::run::{APP, FolderData, read_folder};

pub fn run(args: &EvalArgs, device: &Device) -> anyhow::Result<()> {
    anyhow::ensure!(args.bound.bpd, "{APP} eval scores the likelihood: add --bpd --checkpoint RUN (and --data-dir with held-out images)");
    let checkpoint = args.bound.checkpoint.as_deref().expect("clap requires --checkpoint with --bpd");
    let source = SampleSource::<FolderData>::open(APP, checkpoint, args.bound.weights, FolderData::of_pipeline, device)?;
    let data = &source.description.data;
    let (channels, size) = (data.channels, data.image_size);
    let trained_on = source.description.experiment.data_dir.canonicalize().ok();
    if trained_on.is_some() && trained_on == args.data_dir.canonicalize().ok() {
        eprintln!(
            "{APP}: note: {} is the folder the run trained on; held-out images measure how the model generalises",
            args.data_dir.display()
        );
    }
    let folder = read_folder(&args.data_dir, channels, size, false)?;
    let shape = [folder.count, channels, size, size];
    let report = evaluate_bound(&source, &folder.pixels, shape, None, &args.bound, args.seed, device)?;
    println!("{APP} eval --bpd: {} from {}, {} images of {}", source.weights, checkpoint.display(), report.n, args.data_dir.display());
    report.print_and_write(args.out.as_deref())
}
