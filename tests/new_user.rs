//! What a new user trips over: runs are never overwritten by accident, a
//! closed pipe ends nerve quietly, messages say what to do.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::{assert_fails, nerve, scratch, stderr, stdout};

fn repo(p: &str) -> String {
    common::repo(p).display().to_string()
}

/// A small leaf/flower config in `dir` (a validation split, no test split).
fn config(dir: &Path, epochs: usize) -> String {
    let text = format!(
        "[data]\ndataset = \"csv\"\npath = \"{}\"\nlabel_column = \"label\"\nval_fraction = 0.2\n\
         [model]\nlayers = [{{ type = \"linear\", out = 3 }}, {{ type = \"relu\" }}, {{ type = \"linear\", out = 2 }}]\n\
         [train]\nepochs = {epochs}\nbatch_size = 16\nlr = 0.02\n",
        repo("examples/leaf-flower.csv")
    );
    let p = dir.join("cfg.toml");
    fs::write(&p, text).unwrap();
    p.display().to_string()
}

fn train(cfg: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["train", cfg, "--out", out.to_str().unwrap(), "--quiet"];
    args.extend_from_slice(extra);
    nerve(&args)
}

fn epochs_done(run: &Path) -> u64 {
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    meta["epochs_done"].as_u64().unwrap()
}

#[test]
fn a_finished_run_is_never_overwritten_without_force() {
    let d = scratch("overwrite");
    let cfg = config(&d, 6);
    let run = d.join("run");
    assert!(train(&cfg, &run, &[]).status.success());
    let model = fs::read(run.join("model.safetensors")).unwrap();
    // Training again into the same directory refuses and names the ways on.
    let o = train(&cfg, &run, &["--epochs", "2"]);
    assert_fails(
        &o,
        &[
            run.to_str().unwrap(),
            "a finished run: 6 epochs",
            "--out",
            "--resume",
            "--force",
        ],
    );
    assert_eq!(epochs_done(&run), 6);
    assert_eq!(fs::read(run.join("model.safetensors")).unwrap(), model);
    // --force replaces it, leaving nothing of the old run behind.
    fs::write(run.join("best.safetensors"), b"old").unwrap();
    fs::write(run.join("notes.txt"), b"mine").unwrap();
    let o = train(&cfg, &run, &["--epochs", "2", "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(epochs_done(&run), 2);
    assert!(!run.join("best.safetensors").exists());
    // Files that are not nerve's stay.
    assert_eq!(fs::read(run.join("notes.txt")).unwrap(), b"mine");
    // --resume and --force together make no sense.
    let o = train(&cfg, &run, &["--resume", "--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[test]
fn resuming_a_finished_run_says_so() {
    let d = scratch("resume_finished");
    let cfg = config(&d, 3);
    let run = d.join("run");
    assert!(train(&cfg, &run, &[]).status.success());
    let o = nerve(&["train", &cfg, "--out", run.to_str().unwrap(), "--resume"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("was already finished: 3 epochs") && out.contains("--epochs"),
        "{out}"
    );
    assert!(!out.contains("saved "), "{out}");
    // With more epochs it trains on.
    let o = train(&cfg, &run, &["--resume", "--epochs", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(epochs_done(&run), 5);
}

/// `nerve eval RUN | head -1`: the reader goes away, nerve ends quietly.
#[test]
fn a_closed_pipe_ends_quietly() {
    let d = scratch("pipe");
    let cfg = config(&d, 2);
    let run = d.join("run");
    assert!(train(&cfg, &run, &[]).status.success());
    let csv = repo("examples/leaf-flower.csv");
    for args in [
        vec!["predict", run.to_str().unwrap(), &csv],
        vec!["eval", run.to_str().unwrap(), "--split", "val"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nerve"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read one byte, then close the pipe (what `head -c1` does).
        let mut out = child.stdout.take().unwrap();
        let mut byte = [0u8; 1];
        out.read_exact(&mut byte).unwrap();
        drop(out);
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert!(
            !err.contains("internal error") && !err.contains("Broken pipe"),
            "{args:?}: {err}"
        );
        // Either it had written everything already (exit 0) or SIGPIPE
        // ended it, as it ends `cat`.
        use std::os::unix::process::ExitStatusExt;
        assert!(
            o.status.success() || o.status.signal() == Some(13),
            "{args:?}: {:?} {err}",
            o.status
        );
    }
}

#[test]
fn no_config_outside_the_repository_says_what_it_looked_for() {
    let d = scratch("no_config");
    let o = Command::new(env!("CARGO_BIN_EXE_nerve"))
        .arg("train")
        .current_dir(&*d)
        .output()
        .unwrap();
    assert_fails(
        &o,
        &[
            "no config given",
            "examples/mnist-mlp.toml",
            d.to_str().unwrap(),
            "nerve train path/to/config.toml",
        ],
    );
    // A config anywhere works from anywhere.
    let cfg = config(&d, 1);
    let o = Command::new(env!("CARGO_BIN_EXE_nerve"))
        .args(["train", &cfg, "--quiet"])
        .current_dir(&*d)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.join("runs/cfg/run.json").exists());
}

#[test]
fn pictures_are_named_for_what_they_are() {
    let d = scratch("out_ext");
    let cfg = config(&d, 1);
    let run = d.join("run");
    assert!(train(&cfg, &run, &[]).status.success());
    let jpg = d.join("boundary.jpg");
    let o = nerve(&[
        "boundary",
        run.to_str().unwrap(),
        "--out",
        jpg.to_str().unwrap(),
    ]);
    assert_fails(&o, &["boundary.jpg", "must end in .png", "found .jpg"]);
    assert!(!jpg.exists());
    let o = nerve(&["compare", run.to_str().unwrap(), "--out", "curves"]);
    assert_fails(&o, &["must end in .png", "no extension"]);
}

#[test]
fn predict_names_a_directory_and_a_missing_file() {
    let d = scratch("predict_paths");
    let cfg = config(&d, 1);
    let run = d.join("run");
    assert!(train(&cfg, &run, &[]).status.success());
    let o = nerve(&["predict", run.to_str().unwrap(), d.to_str().unwrap()]);
    assert_fails(&o, &[d.to_str().unwrap(), "is a directory"]);
    let missing = d.join("nope.csv");
    let o = nerve(&["predict", run.to_str().unwrap(), missing.to_str().unwrap()]);
    assert_fails(&o, &["nope.csv", "not found"]);
}

#[test]
fn negative_numbers_are_values_and_the_range_check_answers() {
    let d = scratch("negative");
    let cfg = config(&d, 1);
    let o = train(&cfg, &d.join("run"), &["--lr", "-1"]);
    assert_fails(&o, &["train.lr must be a positive number, found -1"]);
    assert!(!stderr(&o).contains("-- -1"));
}

#[test]
fn eval_suggests_the_split_there_is_and_names_an_unfinished_runs_epoch() {
    let d = scratch("eval_split");
    let cfg = config(&d, 2);
    let run = d.join("run");
    assert!(train(&cfg, &run, &[]).status.success());
    let o = nerve(&["eval", run.to_str().unwrap()]);
    assert_fails(&o, &["no test split", "--split val"]);
    // An unfinished run (as Ctrl-C leaves it): the note names its epoch.
    let meta = fs::read_to_string(run.join("run.json")).unwrap();
    fs::write(
        run.join("run.json"),
        meta.replace("\"finished\": true", "\"finished\": false"),
    )
    .unwrap();
    let o = nerve(&["eval", run.to_str().unwrap(), "--split", "val"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unfinished; the weights are its last checkpoint's, after epoch 2"),
        "{}",
        stderr(&o)
    );
}
