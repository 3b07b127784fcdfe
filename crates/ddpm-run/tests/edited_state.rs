//! A checkpoint's `state.json` is read back from disk, where anyone may have edited it: every value is
//! validated before it reaches a constructor, an index or an assertion. Each numeric or array leaf of a
//! real checkpoint's state is replaced, one at a time, by awkward values; opening the run, building its
//! network and sampling from it must then either work or return an error, and never panic.

use burn::tensor::Device;
use ddpm_core::{BetaSchedule, ModelVariance, Prediction};
use ddpm_nets::{ImageNetwork, NetworkConfig, UNet, UNetConfig};
use ddpm_run::{ImageShape, LoadedRun, RunDescription, SampleRequest, Weights, sample_images};
use ddpm_sample::{SamplerConfig, SamplerKind};
use ddpm_train::{EmaConfig, TrainConfig, Trainer};
use serde_json::{Value, json};

const TIMESTEPS: usize = 20;

fn tiny_run() -> RunDescription<()> {
    let network = UNetConfig::small(1, 8).with_base_channels(8).with_channel_mults(vec![1]).with_mid_mult(1).with_groups(4);
    RunDescription {
        app: "test".into(),
        schedule: BetaSchedule::Linear { start: 1e-4, end: 0.2 },
        timesteps: TIMESTEPS,
        prediction: Prediction::Epsilon,
        variance: ModelVariance::Fixed,
        network: NetworkConfig::UNet(network.with_num_steps(TIMESTEPS).with_time_hidden(16).with_time_dim(8)),
        data: ImageShape { channels: 1, image_size: 8, range: [-1.0, 1.0] },
        seed: 0,
        sampler: SamplerConfig::new().with_kind(SamplerKind::Ddim).with_steps(2),
        code_version: "test".into(),
        train_flags: None,
        experiment: (),
    }
}

/// The path of every number, boolean and array in `value`, as JSON pointer segments.
fn leaves(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(map) => map.iter().for_each(|(key, child)| {
            path.push(key.clone());
            leaves(child, path, out);
            path.pop();
        }),
        Value::Array(items) => {
            out.push(path.clone());
            items.iter().enumerate().for_each(|(i, child)| {
                path.push(i.to_string());
                leaves(child, path, out);
                path.pop();
            });
        }
        Value::Number(_) | Value::Bool(_) | Value::Null => out.push(path.clone()),
        Value::String(_) => {}
    }
}

#[test]
fn no_edit_of_a_checkpoints_state_makes_sample_panic() {
    let device = Device::flex();
    let run_dir = tempfile::tempdir().unwrap();
    let description = tiny_run();
    let schedule = description.noise_schedule().unwrap();
    let config = TrainConfig::new().with_steps(1).with_batch_size(Some(2)).with_ema(Some(EmaConfig::new()));
    let model = UNet::init_from(&description.network, &device.clone().autodiff()).unwrap();
    Trainer::new(model, &schedule, &config).unwrap().save(run_dir.path(), &description).unwrap();
    let state_file = run_dir.path().join("checkpoint/state.json");
    let original: Value = serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    let mut paths = Vec::new();
    leaves(&original, &mut Vec::new(), &mut paths);
    assert!(paths.len() > 40, "the walk finds the state's leaves ({})", paths.len());

    let replacements = [json!(0), json!(1), json!(3), json!(7), json!(-1), json!(1e12), json!(0.5), json!(1e300), json!(null), json!([])];
    let (mut refused, mut sampled) = (0, 0);
    for path in &paths {
        for replacement in &replacements {
            let mut edited = original.clone();
            let pointer: String = path.iter().map(|segment| format!("/{segment}")).collect();
            *edited.pointer_mut(&pointer).unwrap() = replacement.clone();
            std::fs::write(&state_file, edited.to_string()).unwrap();
            let case = format!("{pointer} = {replacement}");
            let outcome = std::panic::catch_unwind(|| -> anyhow::Result<()> {
                let loaded = LoadedRun::<()>::open("test", run_dir.path())?;
                let model = loaded.sampling_network(&device, Weights::Ema)?;
                let sampler = loaded.description().sampler.clone();
                let request = SampleRequest {
                    sampler: &sampler,
                    n: 1,
                    seed: 0,
                    execution: ddpm_run::Execution::default(),
                    trajectory_every: None,
                    progress: false,
                    classes: None,
                    init_noise: None,
                    shard: ddpm_run::Shard::WHOLE,
                };
                let sampled = sample_images(&model, loaded.description(), &request, &device)?;
                let values: Vec<f32> = sampled.samples.into_data().try_into_vec().unwrap();
                anyhow::ensure!(values.len() == 64, "{} values", values.len());
                Ok(())
            });
            match outcome {
                Ok(Ok(())) => sampled += 1,
                Ok(Err(error)) => {
                    assert!(!error.to_string().is_empty(), "{case}");
                    refused += 1;
                }
                Err(_) => panic!("{case} panicked"),
            }
        }
    }
    eprintln!("{refused} edits refused, {sampled} sampled");
    assert!(refused > 0 && sampled > 0, "{refused} edits refused, {sampled} sampled");
}
