//! The workflows the demo plays, read from their files so that it calls each binary with exactly
//! the inputs a step gives it: the reusable workflow's `with:` (`.github/workflows/`), its
//! `${{ inputs.x }}` resolved from the calling example (`examples/workflows/`, paths and URLs
//! replaced by the demo's) or the reusable input's default, `${{ github.sha }}`, `${{ secrets.x }}`
//! and `${{ matrix.x }}` from the demo's run. Any other expression (an outcome chosen with
//! `&&`/`||`, a `format()`) the demo must supply itself, and may supply nothing the step does
//! not have: a step changed in the YAML without the demo following fails the demo, loudly.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::Value;

use crate::{Failure, Result};

/// One workflow file: its `workflow_call` inputs' defaults and its steps.
#[derive(Debug)]
pub struct Workflow {
    file: String,
    defaults: BTreeMap<String, String>,
    steps: Vec<StepDef>,
}

/// One step: its name, the action it uses and its `with:`, verbatim.
#[derive(Debug)]
struct StepDef {
    name: String,
    uses: String,
    with: Vec<(String, String)>,
}

/// What `${{ … }}` can read in a run of the demo.
#[derive(Debug, Default, Clone)]
pub struct Context {
    /// The caller's `with:` (the reusable workflow's `inputs`).
    pub inputs: BTreeMap<String, String>,
    /// `github.sha`.
    pub sha: String,
    /// `secrets.*`.
    pub secrets: BTreeMap<String, String>,
    /// `matrix.*`.
    pub matrix: BTreeMap<String, String>,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Workflow {
    /// Reads `path` (a workflow file).
    pub fn load(path: &Path) -> Result<Workflow> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(format!("cannot read {file}: {e}")))?;
        let doc: Value = serde_yaml::from_str(&source)
            .map_err(|e| Failure::new(format!("{file} is not YAML: {e}")))?;
        let mut defaults = BTreeMap::new();
        // `on` may be read as the boolean `true` by YAML 1.1 parsers.
        let on = doc.get("on").or_else(|| doc.get(Value::Bool(true)));
        if let Some(inputs) = on
            .and_then(|o| o.get("workflow_call"))
            .and_then(|w| w.get("inputs"))
            .and_then(Value::as_mapping)
        {
            for (k, v) in inputs {
                if let (Some(k), Some(d)) = (text(k), v.get("default").and_then(text)) {
                    defaults.insert(k, d);
                }
            }
        }
        let mut steps = Vec::new();
        for job in doc
            .get("jobs")
            .and_then(Value::as_mapping)
            .into_iter()
            .flat_map(|m| m.values())
        {
            for step in job
                .get("steps")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                let with = step
                    .get("with")
                    .and_then(Value::as_mapping)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
                            .collect()
                    })
                    .unwrap_or_default();
                steps.push(StepDef {
                    name: step.get("name").and_then(text).unwrap_or_default(),
                    uses: step.get("uses").and_then(text).unwrap_or_default(),
                    with,
                });
            }
        }
        Ok(Workflow {
            file,
            defaults,
            steps,
        })
    }

    /// The `with:` of the caller's job that calls a reusable workflow (the example a user
    /// copies): `uses:` … `with:` of its first job.
    pub fn caller_with(path: &Path) -> Result<BTreeMap<String, String>> {
        let file = path.display().to_string();
        let source = std::fs::read_to_string(path)
            .map_err(|e| Failure::new(format!("cannot read {file}: {e}")))?;
        let doc: Value = serde_yaml::from_str(&source)
            .map_err(|e| Failure::new(format!("{file} is not YAML: {e}")))?;
        let with = doc
            .get("jobs")
            .and_then(Value::as_mapping)
            .and_then(|m| m.values().find(|j| j.get("uses").is_some()))
            .and_then(|j| j.get("with"))
            .and_then(Value::as_mapping);
        Ok(with
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
            .collect())
    }

    /// The action (`save-rollback-point` for `lastgood/lastgood/actions/save-rollback-point@v0`)
    /// and the inputs of the step called `step`: its `with:` resolved in `ctx`, `supplied` for
    /// the expressions the demo evaluates itself (refused when the step has no such input).
    pub fn with(
        &self,
        step: &str,
        ctx: &Context,
        supplied: &[(&str, String)],
    ) -> Result<(String, Vec<(String, String)>)> {
        let def = self.steps.iter().find(|s| s.name == step).ok_or_else(|| {
            Failure::new(format!(
                "demo out of date: {} has no step named \"{step}\"",
                self.file
            ))
        })?;
        for (name, _) in supplied {
            if !def.with.iter().any(|(k, _)| k == name) {
                return Err(Failure::new(format!(
                    "demo out of date: step \"{step}\" of {} has no input `{name}`",
                    self.file
                )));
            }
        }
        let mut out = Vec::new();
        for (name, raw) in &def.with {
            if let Some((_, v)) = supplied.iter().find(|(n, _)| n == name) {
                out.push((name.clone(), v.clone()));
                continue;
            }
            let value = self.resolve(raw, ctx).ok_or_else(|| {
                Failure::new(format!(
                    "demo out of date: input `{name}` of step \"{step}\" in {} is `{raw}`, an expression the demo does not evaluate",
                    self.file
                ))
            })?;
            out.push((name.clone(), value));
        }
        let action = def
            .uses
            .rsplit_once("/actions/")
            .map(|(_, a)| a.split('@').next().unwrap_or(a).to_owned())
            .unwrap_or_default();
        Ok((action, out))
    }

    /// A literal, or one `${{ path }}` the context answers.
    fn resolve(&self, raw: &str, ctx: &Context) -> Option<String> {
        let Some(inner) = raw
            .trim()
            .strip_prefix("${{")
            .and_then(|r| r.strip_suffix("}}"))
        else {
            return (!raw.contains("${{")).then(|| raw.to_owned());
        };
        let path = inner.trim();
        if let Some(input) = path.strip_prefix("inputs.") {
            return Some(
                ctx.inputs
                    .get(input)
                    .cloned()
                    .or_else(|| self.defaults.get(input).cloned())
                    .unwrap_or_default(),
            );
        }
        if let Some(secret) = path.strip_prefix("secrets.") {
            return Some(ctx.secrets.get(secret).cloned().unwrap_or_default());
        }
        if let Some(key) = path.strip_prefix("matrix.") {
            return ctx.matrix.get(key).cloned();
        }
        (path == "github.sha").then(|| ctx.sha.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_resolve_inputs_defaults_secrets_and_refuse_what_they_do_not_have() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.yml");
        std::fs::write(
            &file,
            "on:\n  workflow_call:\n    inputs:\n      a: {type: string, default: \"3\"}\n      b: {type: string, required: true}\njobs:\n  j:\n    steps:\n      - name: S\n        uses: lastgood/lastgood/actions/deploy-sha@v0\n        with:\n          a: ${{ inputs.a }}\n          b: ${{ inputs.b }}\n          sha: ${{ github.sha }}\n          hook: ${{ secrets.HOOK }}\n          lit: \"5\"\n          event: ${{ steps.d.outputs.o == 'x' && 'y' || 'z' }}\n",
        )
        .unwrap();
        let w = Workflow::load(&file).unwrap();
        let ctx = Context {
            inputs: [("b".to_owned(), "B".to_owned())].into(),
            sha: "abc".into(),
            ..Context::default()
        };
        let (action, with) = w.with("S", &ctx, &[("event", "z".into())]).unwrap();
        assert_eq!(action, "deploy-sha");
        let get = |k: &str| with.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("a"), Some("3"));
        assert_eq!(get("b"), Some("B"));
        assert_eq!(get("sha"), Some("abc"));
        assert_eq!(get("hook"), Some(""));
        assert_eq!(get("lit"), Some("5"));
        assert_eq!(get("event"), Some("z"));
        let unevaluated = w.with("S", &ctx, &[]).unwrap_err().to_string();
        assert!(unevaluated.contains("`event`"), "{unevaluated}");
        let extra = w
            .with("S", &ctx, &[("event", "z".into()), ("nope", "1".into())])
            .unwrap_err()
            .to_string();
        assert!(extra.contains("no input `nope`"), "{extra}");
        assert!(w.with("T", &ctx, &[]).is_err());
    }
}
