//! `mnist-train classifier`: trains the digit classifier whose features the quality metrics use (see
//! `ddpm_eval::classifier`) and writes it where `eval` and `train --eval-every` read it.

use burn::tensor::Device;
use ddpm_data::MnistSplit;
use ddpm_eval::classifier::{self, ClassifierTraining};
use ddpm_run::progress_bar;

use crate::cli::ClassifierArgs;

pub fn train(args: &ClassifierArgs, device: &Device) -> anyhow::Result<()> {
    let train = crate::run::load_mnist(MnistSplit::Train, args.data_dir.as_deref(), false)?;
    let test = crate::run::load_mnist(MnistSplit::Test, args.data_dir.as_deref(), false)?;
    let settings = ClassifierTraining { epochs: args.epochs, batch_size: args.batch_size, lr: args.lr, seed: args.seed };
    let bar = progress_bar(settings.steps(train.len()), "classifier");
    let model = classifier::train(&train, &settings, device, |done, loss| {
        if let Some(loss) = loss {
            bar.set_message(format!("loss {loss:.4}"));
        }
        bar.set_position(done as u64);
    });
    bar.finish();

    let accuracy = classifier::accuracy(&model, &test, device);
    let correct = (accuracy * test.len() as f64).round();
    println!("mnist-train classifier: {} epochs, test accuracy {:.2}% ({correct}/{})", args.epochs, 100.0 * accuracy, test.len());
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let sha256 =
        classifier::save(&args.out, &model, accuracy, &settings, command).map_err(|e| anyhow::anyhow!("{e} (pick another --out)"))?;
    println!("  wrote {}/{{classifier.bpk, classifier.json}}, sha256 {sha256}", args.out.display());
    Ok(())
}
