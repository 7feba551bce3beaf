//! `[sandbox]`: limits, and what each component is granted.

use super::Validator;
use crate::graph::{Budgets, DirGrant, Grants, Sandbox};
use crate::params::substitute;
use crate::spec::{GrantSpec, JobSpec, SandboxSpec};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

impl Validator {
    pub(super) fn sandbox(
        &mut self,
        spec: &JobSpec,
        params: &BTreeMap<String, String>,
        base: &Path,
    ) -> Sandbox {
        let mut s = Sandbox::default();
        if let Some(mb) = spec.sandbox.memory_limit_mb {
            if mb == 0 || mb > 4096 {
                self.problem(format!(
                    "sandbox.memory_limit_mb must be between 1 and 4096, got {mb}"
                ));
            } else {
                s.memory_limit_bytes = mb << 20;
            }
        }
        if let Some(ms) = spec.sandbox.call_timeout_ms {
            if ms == 0 {
                self.problem("sandbox.call_timeout_ms must be at least 1");
            } else {
                s.call_timeout = Duration::from_millis(ms);
            }
        }
        self.budgets(&spec.sandbox, &mut s.budgets);
        if let Some(fuse) = spec.sandbox.fuse_chained_calls {
            s.fuse_chained_calls = fuse;
        }
        for (component, grant) in &spec.sandbox.grants {
            let what = format!("sandbox.grants.{component}");
            if !spec.components.contains_key(component) {
                self.problem(format!(
                    "{what}: no component '{component}' in [components]"
                ));
                continue;
            }
            let g = self.grants(&what, grant, params, base);
            s.grants.insert(component.clone(), Arc::new(g));
        }
        s
    }

    fn budgets(&mut self, spec: &SandboxSpec, b: &mut Budgets) {
        let mut positive = |name: &str, v: Option<u64>, max: u64| -> Option<u64> {
            let v = v?;
            if v == 0 || v > max {
                self.problems.push(format!(
                    "sandbox.{name} must be between 1 and {max}, got {v}"
                ));
                return None;
            }
            Some(v)
        };
        if let Some(mb) = positive(
            "max_state_write_mb_per_call",
            spec.max_state_write_mb_per_call,
            4096,
        ) {
            b.state_write_bytes_per_call = mb << 20;
        }
        if let Some(n) = positive("max_timers_per_call", spec.max_timers_per_call, 100_000_000) {
            b.timers_per_call = n;
        }
        if let Some(n) = positive("max_states", spec.max_states.map(u64::from), 10_000) {
            b.states = n as u32;
        }
        if let Some(mb) = positive("max_output_mb_per_call", spec.max_output_mb_per_call, 4096) {
            b.output_bytes_per_call = mb << 20;
        }
        if let Some(n) = positive(
            "max_side_outputs",
            spec.max_side_outputs.map(u64::from),
            10_000,
        ) {
            b.side_outputs = n as u32;
        }
        if let Some(n) = spec.max_log_lines_per_second {
            b.log_lines_per_second = n;
        }
    }

    fn grants(
        &mut self,
        what: &str,
        spec: &GrantSpec,
        params: &BTreeMap<String, String>,
        base: &Path,
    ) -> Grants {
        let mut g = Grants::default();
        for (name, value) in &spec.env {
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                self.problem(format!("{what}.env: '{name}' is not a valid variable name"));
            }
            let value = substitute(value, params, what, &mut self.problems);
            g.env.push((name.clone(), value));
        }
        for d in &spec.dirs {
            let host = substitute(&d.host, params, what, &mut self.problems);
            let host = self.resolve(&d.host, host, base);
            if !Path::new(&host).is_dir() {
                self.problem(format!(
                    "{what}.dirs: '{host}' is not a directory on this machine"
                ));
            }
            if !d.guest.starts_with('/') || d.guest.split('/').any(|c| c == "..") {
                self.problem(format!(
                    "{what}.dirs: guest path '{}' must be absolute, without '..'",
                    d.guest
                ));
            }
            let guest = d.guest.trim_end_matches('/');
            let guest = if guest.is_empty() { "/" } else { guest };
            if g.dirs.iter().any(|x: &DirGrant| x.guest == guest) {
                self.problem(format!(
                    "{what}.dirs: guest path '{guest}' is granted twice"
                ));
            }
            g.dirs.push(DirGrant {
                host: host.into(),
                guest: guest.to_owned(),
                writable: d.writable,
            });
        }
        g
    }
}
