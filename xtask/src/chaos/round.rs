//! Playing one round: the initial deploy, then random pushes, each deployed first (save the
//! rollback point, deploy-sha, the detached watcher) with faults at random moments, verdicts
//! delivered by `conclusion` in random order and at random times; then the pipeline settles
//! (faults end, an interrupted newest job is re-run as its operator would, `resume`).

use std::time::{Duration, Instant};

use lastgood_testkit::github::{Fault, Run, TOKEN, When};

use super::model::{Kind, Model, Push, Sample};
use super::rng::Rng;
use super::world::{Ran, World};
use crate::demo::cleanup;
use crate::{Failure, Result};

/// Something the round does later.
#[derive(Debug, Clone)]
enum Event {
    /// GitHub answers again.
    EndOutage,
    /// The state directory's disk is freed.
    FreeDisk,
    /// A signal to a detached watcher.
    Signal(u32, Sig),
    /// CI's verdict on push `n` reaches the `ci-verdict` workflow (`conclusion`).
    Verdict(usize),
}

/// The signals the runner sends.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sig {
    Term,
    Kill,
}

impl Sig {
    fn name(self) -> &'static str {
        match self {
            Sig::Term => "TERM",
            Sig::Kill => "KILL",
        }
    }

    fn send(self, pid: u32) {
        let Some(p) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        else {
            return;
        };
        let sig = match self {
            Sig::Term => rustix::process::Signal::TERM,
            Sig::Kill => rustix::process::Signal::KILL,
        };
        let _ = rustix::process::kill_process(p, sig);
    }
}

/// A round being played.
pub(crate) struct Round<'w> {
    pub(crate) world: &'w World,
    pub(crate) rng: Rng,
    pub(crate) model: Model,
    events: Vec<(Instant, Event)>,
    watchers: Vec<u32>,
    /// Faults are off while the round settles.
    calm: bool,
}

impl<'w> Round<'w> {
    /// A round on `world` driven by `rng`.
    pub(crate) fn new(world: &'w World, rng: Rng) -> Self {
        Round {
            world,
            rng,
            model: Model::default(),
            events: Vec::new(),
            watchers: Vec::new(),
            calm: false,
        }
    }

    /// Plays the whole round; an error is a step that could not run at all (not a violation).
    pub(crate) fn play(&mut self) -> Result {
        self.initial()?;
        let pushes = self.rng.range(1, 3);
        for n in 1..=pushes {
            self.push(n as usize)?;
            let pause = self.rng.millis(0, 1200);
            self.idle(pause)?;
        }
        self.settle()
    }

    /// Takes a sample after `step`.
    fn sample(&mut self, step: &str) {
        let validated = std::fs::read_to_string(self.world.state.join("last-validated-sha.txt"))
            .ok()
            .map(|s| s.trim().to_owned());
        let sample = Sample {
            served: self.world.served(),
            validated,
            after: step.to_owned(),
        };
        if self.model.samples.last().map(|s| (&s.served, &s.validated))
            != Some((&sample.served, &sample.validated))
        {
            self.model.samples.push(sample);
        }
    }

    /// Runs a step to its end, noting it, then samples.
    fn step(&mut self, bin: &str, what: &str, inputs: &[(&str, String)]) -> Result<Ran> {
        let ran = self.world.run(bin, inputs)?;
        self.noted(bin, what, &ran);
        Ok(ran)
    }

    fn noted(&mut self, bin: &str, what: &str, ran: &Ran) {
        let outputs: Vec<String> = ["outcome", "action", "conclusion"]
            .iter()
            .filter(|k| !ran.out(k).is_empty())
            .map(|k| format!("{k}={}", ran.out(k)))
            .collect();
        self.model.note(format!(
            "  {bin} {what}: exit {} {}",
            ran.code.map_or("(signal)".to_owned(), |c| c.to_string()),
            outputs.join(" ")
        ));
        self.sample(&format!("{bin} {what}"));
    }

    /// The initial commit, deployed and validated: the last good SHA to fall back on.
    fn initial(&mut self) -> Result {
        let w = self.world;
        let sha = w.push(
            &[("version.txt", Some("v0\n".into())), ("app.conf", None)],
            "initial",
        )?;
        w.clone_app()?;
        w.gh.add_run(Run::new(1, &sha).at(When::Poll(0), "completed", Some("success")));
        self.model.pushes.push(Push {
            sha: sha.clone(),
            kind: Kind::Good,
            ci_success: true,
            ci_done: Duration::ZERO,
            job_broken: false,
            verdict_event: false,
        });
        self.model
            .note(format!("initial {}", self.model.name(&sha)));
        let mut inputs = w.env_inputs();
        inputs.push(("sha", sha.clone()));
        let ran = self.step("deploy-sha", "initial", &inputs)?;
        if ran.out("outcome") != "deployed" {
            return Err(Failure::new(format!(
                "the initial deploy did not succeed: {}",
                ran.stderr.trim()
            )));
        }
        let mut inputs = w.watch_inputs(&sha);
        inputs.push(("conclusion", "success".into()));
        self.step("ci-watcher", "conclusion success (initial)", &inputs)?;
        Ok(())
    }

    /// Push `n`: a random kind, its CI run scripted on the stand-in, faults, its deploy job.
    fn push(&mut self, n: usize) -> Result {
        let kind = match self.rng.range(0, 99) {
            0..=39 => Kind::Good,
            40..=54 => Kind::BrokenStart,
            55..=69 => Kind::BrokenHealth,
            _ => Kind::FailingCi,
        };
        let conf = match kind {
            Kind::BrokenStart => Some("fail=start\n".to_owned()),
            Kind::BrokenHealth => Some("fail=health\n".to_owned()),
            _ => None,
        };
        let sha = self.world.push(
            &[("version.txt", Some(format!("v{n}\n"))), ("app.conf", conf)],
            &format!("push {n}"),
        )?;
        let ci_success = match kind {
            Kind::Good => true,
            Kind::FailingCi => false,
            _ => self.rng.chance(50),
        };
        let now = self.world.started.elapsed();
        let appear = now + self.rng.millis(0, 800);
        let ci_done = appear + self.rng.millis(100, 2500);
        let conclusion = if ci_success { "success" } else { "failure" };
        self.world.gh.add_run(
            Run::new(n as u64 + 1, &sha)
                .at(When::After(appear), "in_progress", None)
                .at(When::After(ci_done), "completed", Some(conclusion)),
        );
        let verdict_event = self.rng.chance(50);
        self.model.pushes.push(Push {
            sha: sha.clone(),
            kind,
            ci_success,
            ci_done,
            job_broken: false,
            verdict_event,
        });
        self.model.note(format!(
            "push {} (CI {conclusion} at {}ms{})",
            self.model.name(&sha),
            ci_done.as_millis(),
            if verdict_event {
                ", ci-verdict too"
            } else {
                ""
            }
        ));
        if verdict_event {
            self.verdict_later(n);
        }
        self.github_faults();
        self.job(n, true)
    }

    /// Queues the `ci-verdict` workflow's `conclusion` for push `n`, some time after its CI ends.
    fn verdict_later(&mut self, n: usize) {
        let done = self.model.pushes[n].ci_done;
        let delay = self.rng.millis(0, 3000);
        let at = self.world.started + done + delay;
        self.events.push((at, Event::Verdict(n)));
    }

    /// Rate limits and outages of GitHub, now and then.
    fn github_faults(&mut self) {
        if self.rng.chance(20) {
            let fault = self.fault();
            self.model.note(format!("  GitHub: one answer {fault:?}"));
            self.world.gh.fault(fault);
        }
        if self.rng.chance(20) {
            let fault = self.fault();
            let lasts = self.rng.millis(200, 5000);
            self.model
                .note(format!("  GitHub: {fault:?} for {}ms", lasts.as_millis()));
            self.world.gh.outage(fault);
            self.events.push((Instant::now() + lasts, Event::EndOutage));
        }
    }

    fn fault(&mut self) -> Fault {
        match self.rng.range(0, 3) {
            0 => Fault::RateLimitReset(self.rng.range(1, 3)),
            1 => Fault::RetryAfter(1),
            2 => Fault::Status(502, "Server Error".to_owned()),
            _ => Fault::Status(503, "Service Unavailable".to_owned()),
        }
    }

    /// The deploy job of push `n`, deploy-first: save the rollback point, deploy, watch.
    fn job(&mut self, n: usize, faults: bool) -> Result {
        let w = self.world;
        let sha = self.model.pushes[n].sha.clone();
        if faults && w.disk.is_some() && self.rng.chance(12) {
            let frees = self.rng.millis(0, 3000);
            self.model
                .note(format!("  disk full for {}ms", frees.as_millis()));
            if let Some(disk) = &w.disk {
                disk.fill();
            }
            self.events.push((Instant::now() + frees, Event::FreeDisk));
        }
        let save = vec![
            ("app-dir", w.app.display().to_string()),
            ("state-dir", w.state.display().to_string()),
            ("lock-timeout", "2m".to_owned()),
        ];
        self.step("save-rollback-point", "", &save)?;
        self.fire_due();
        let mut inputs = w.env_inputs();
        inputs.push(("sha", sha.clone()));
        let mut running = w.start("deploy-sha", &inputs)?;
        let mut signalled = None;
        if faults && self.rng.chance(30) {
            let after = self.rng.millis(0, 1500);
            let sig = if self.rng.chance(50) {
                Sig::Kill
            } else {
                Sig::Term
            };
            let start = Instant::now();
            while start.elapsed() < after && running.running() {
                std::thread::sleep(Duration::from_millis(5));
            }
            if running.running() {
                sig.send(running.pid());
                signalled = Some((sig, after));
            }
        }
        let ran = running.wait(Duration::from_secs(180))?;
        let what = match signalled {
            Some((sig, after)) => format!(
                "{} (SIG{} at {}ms)",
                short(&sha),
                sig.name(),
                after.as_millis()
            ),
            None => short(&sha),
        };
        self.noted("deploy-sha", &what, &ran);
        if signalled.is_some() || !matches!(ran.code, Some(0 | 1)) {
            self.broken(n);
            return Ok(());
        }
        if ran.out("outcome") == "deployed" {
            self.watch(n, faults)?;
        }
        Ok(())
    }

    /// The job of push `n` did not finish as a job should: its verdict comes by `conclusion`.
    fn broken(&mut self, n: usize) {
        let push = &mut self.model.pushes[n];
        push.job_broken = true;
        if !push.verdict_event {
            push.verdict_event = true;
            self.verdict_later(n);
        }
    }

    /// The detached watcher of push `n`, maybe signalled later.
    fn watch(&mut self, n: usize, faults: bool) -> Result {
        let sha = self.model.pushes[n].sha.clone();
        let mut inputs = self.world.watch_inputs(&sha);
        inputs.push(("detach", "true".into()));
        let ran = self.step("ci-watcher", &format!("detach {}", short(&sha)), &inputs)?;
        if ran.code != Some(0) {
            self.broken(n);
            return Ok(());
        }
        if let Ok(pid) = ran.out("pid").parse::<u32>() {
            self.watchers.push(pid);
            if faults && self.rng.chance(25) {
                let sig = if self.rng.chance(50) {
                    Sig::Kill
                } else {
                    Sig::Term
                };
                let at = Instant::now() + self.rng.millis(0, 3000);
                self.events.push((at, Event::Signal(pid, sig)));
            }
        }
        Ok(())
    }

    /// Waits `span`, acting on the events that fall due.
    fn idle(&mut self, span: Duration) -> Result {
        let end = Instant::now() + span;
        loop {
            self.fire_due_steps()?;
            if Instant::now() >= end {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The due events that are not steps.
    fn fire_due(&mut self) {
        let now = Instant::now();
        let mut keep = Vec::new();
        for (at, ev) in std::mem::take(&mut self.events) {
            match ev {
                Event::Verdict(_) => keep.push((at, ev)),
                _ if at > now && !self.calm => keep.push((at, ev)),
                Event::EndOutage => {
                    self.world.gh.end_outage();
                    self.model.note("  GitHub answers again");
                }
                Event::FreeDisk => {
                    if let Some(disk) = &self.world.disk {
                        disk.free();
                    }
                    self.model.note("  disk freed");
                }
                Event::Signal(pid, sig) => {
                    if !self.calm && cleanup::alive(pid) {
                        sig.send(pid);
                        self.model
                            .note(format!("  SIG{} to the detached watcher {pid}", sig.name()));
                    }
                }
            }
        }
        self.events.extend(keep);
    }

    /// The due events, verdicts included (in the order they fall due).
    fn fire_due_steps(&mut self) -> Result {
        self.fire_due();
        let now = Instant::now();
        self.events.sort_by_key(|(at, _)| *at);
        let calm = self.calm;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.events)
            .into_iter()
            .partition(|(at, ev)| matches!(ev, Event::Verdict(_)) && (*at <= now || calm));
        self.events = later;
        let mut due: Vec<usize> = due
            .into_iter()
            .filter_map(|(_, ev)| match ev {
                Event::Verdict(n) => Some(n),
                _ => None,
            })
            .collect();
        if calm {
            // The verdicts still to come arrive in any order.
            self.rng.shuffle(&mut due);
        }
        for n in due {
            self.verdict(n)?;
        }
        Ok(())
    }

    /// The `ci-verdict` workflow for push `n`.
    fn verdict(&mut self, n: usize) -> Result {
        let push = &self.model.pushes[n];
        let conclusion = if push.ci_success {
            "success"
        } else {
            "failure"
        };
        let sha = push.sha.clone();
        let mut inputs = self.world.watch_inputs(&sha);
        inputs.push(("conclusion", conclusion.into()));
        self.step(
            "ci-watcher",
            &format!("conclusion {conclusion} {}", short(&sha)),
            &inputs,
        )
        .map(drop)
    }

    /// The end of the round: faults stop, the newest job is re-run if it broke, every CI run
    /// ends, every verdict is delivered, watchers finish, then `resume`.
    fn settle(&mut self) -> Result {
        self.model.note("settle");
        self.calm = true;
        self.fire_due();
        self.world.gh.end_outage();
        if let Some(disk) = &self.world.disk {
            disk.free();
        }
        let newest = self.model.pushes.len() - 1;
        if self.model.pushes[newest].job_broken {
            self.model.note("  the newest job broke: re-run it");
            self.job(newest, false)?;
        }
        let last_ci = self
            .model
            .pushes
            .iter()
            .map(|p| p.ci_done)
            .max()
            .unwrap_or_default();
        while self.world.started.elapsed() < last_ci + Duration::from_millis(200) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.fire_due_steps()?;
        self.wait_watchers();
        self.resume()
    }

    /// Waits (bounded) until every detached watcher has exited.
    fn wait_watchers(&mut self) {
        let start = Instant::now();
        while self.watchers.iter().any(|&p| cleanup::alive(p))
            && start.elapsed() < Duration::from_secs(90)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `resume` (the boot unit's), until no watch is pending (at most three times).
    fn resume(&mut self) -> Result {
        let inputs = vec![
            ("state-dir", self.world.state.display().to_string()),
            ("resume", "true".to_owned()),
            ("token", TOKEN.to_owned()),
        ];
        for _ in 0..3 {
            self.step("ci-watcher", "resume", &inputs)?;
            if super::check::pending(&self.world.state).is_empty() {
                break;
            }
        }
        let start = Instant::now();
        while !super::check::ours(self.world).is_empty()
            && start.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.sample("the end");
        Ok(())
    }
}

fn short(sha: &str) -> String {
    sha[..7.min(sha.len())].to_owned()
}
