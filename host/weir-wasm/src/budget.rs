//! Budgets for what the host holds or does on behalf of a guest per call:
//! the guest's memory cap does not see host allocations, so a guest that
//! appends state or registers timers in a loop would otherwise grow the
//! host without bound.

use weir_core::graph::Budgets;

/// A budget a guest went over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the function {what} (budget: sandbox.{setting} = {limit})")]
pub struct BudgetExceeded {
    /// What the function did ("wrote more than 64 MiB of keyed state in
    /// one call").
    pub what: String,
    /// The setting's value.
    pub limit: u64,
    /// The `[sandbox]` setting that sets it.
    pub setting: &'static str,
}

/// What the current call has used so far.
#[derive(Debug, Default, Clone, Copy)]
pub struct Usage {
    /// Keyed state bytes written (host calls and value-state sets).
    pub state_bytes: u64,
    /// Timers registered.
    pub timers: u64,
}

fn mib(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    }
}

impl Usage {
    /// Counts `bytes` of keyed state written; fails past the budget.
    pub fn charge_state(&mut self, budgets: &Budgets, bytes: usize) -> Result<(), BudgetExceeded> {
        self.state_bytes = self.state_bytes.saturating_add(bytes as u64);
        if self.state_bytes > budgets.state_write_bytes_per_call {
            return Err(BudgetExceeded {
                what: format!(
                    "wrote more than {} of keyed state in one call",
                    mib(budgets.state_write_bytes_per_call)
                ),
                limit: budgets.state_write_bytes_per_call >> 20,
                setting: "max_state_write_mb_per_call",
            });
        }
        Ok(())
    }

    /// Counts one registered timer; fails past the budget.
    pub fn charge_timer(&mut self, budgets: &Budgets) -> Result<(), BudgetExceeded> {
        self.timers += 1;
        if self.timers > budgets.timers_per_call {
            return Err(BudgetExceeded {
                what: format!(
                    "registered more than {} timers in one call",
                    budgets.timers_per_call
                ),
                limit: budgets.timers_per_call,
                setting: "max_timers_per_call",
            });
        }
        Ok(())
    }
}

/// Checks the size of a call's result.
pub(crate) fn check_output(budgets: &Budgets, bytes: usize) -> Result<(), BudgetExceeded> {
    if bytes as u64 > budgets.output_bytes_per_call {
        return Err(BudgetExceeded {
            what: format!("returned {} of results from one call", mib(bytes as u64)),
            limit: budgets.output_bytes_per_call >> 20,
            setting: "max_output_mb_per_call",
        });
    }
    Ok(())
}

/// Checks how many keyed states a function declares.
pub(crate) fn check_states(budgets: &Budgets, declared: usize) -> Result<(), BudgetExceeded> {
    if declared as u64 > u64::from(budgets.states) {
        return Err(BudgetExceeded {
            what: format!("declares {declared} keyed states"),
            limit: u64::from(budgets.states),
            setting: "max_states",
        });
    }
    Ok(())
}

/// Checks how many side outputs a function declares.
pub(crate) fn check_side_outputs(budgets: &Budgets, declared: usize) -> Result<(), BudgetExceeded> {
    if declared as u64 > u64::from(budgets.side_outputs) {
        return Err(BudgetExceeded {
            what: format!("declares {declared} side outputs"),
            limit: u64::from(budgets.side_outputs),
            setting: "max_side_outputs",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_name_their_setting() {
        let b = Budgets {
            state_write_bytes_per_call: 1 << 20,
            timers_per_call: 2,
            ..Budgets::default()
        };
        let mut u = Usage::default();
        assert!(u.charge_state(&b, 1 << 19).is_ok());
        let e = u.charge_state(&b, 1 << 19 | 1).expect_err("over");
        assert!(
            e.to_string()
                == "the function wrote more than 1 MiB of keyed state in one call (budget: sandbox.max_state_write_mb_per_call = 1)",
            "{e}"
        );
        assert!(u.charge_timer(&b).is_ok() && u.charge_timer(&b).is_ok());
        let e = u.charge_timer(&b).expect_err("third timer");
        assert!(e.to_string().contains("sandbox.max_timers_per_call"), "{e}");
        assert!(check_output(&b, 64 << 20).is_ok());
        assert!(check_output(&b, (64 << 20) + 1).is_err());
    }
}
