//! Per-user click analytics: a keyed process function that keeps, for each
//! user, visits per URL in a `MapState` and the user's most recent URLs in a
//! `ListState`, and reports both with every click.
//!
//! In: `{"user": "u1", "url": "/a"}` keyed by `user`.
//! Out: `{"user": "u1", "url": "/a", "visits": 2, "distinct_urls": 3,
//! "recent": ["/c", "/b", "/a"]}` where `visits` counts this user's visits to
//! this URL so far and `recent` is the user's last `recent` (job parameter,
//! default 3) URLs, oldest first.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use weir_sdk::{
    AggregateFunction, Bin, Collector, Context, Error, Json, KeyedProcessFunction, ListState,
    MapState, OpenContext, Result, ValueState,
};

/// A click event.
#[derive(Serialize, Deserialize)]
pub struct Click {
    /// User id.
    pub user: String,
    /// Visited URL.
    pub url: String,
}

/// What the function reports per click.
#[derive(Serialize, Deserialize)]
pub struct Activity {
    user: String,
    url: String,
    visits: u64,
    distinct_urls: u64,
    recent: Vec<String>,
}

/// The analytics function.
#[derive(Default)]
pub struct UserActivity {
    visits: Option<MapState<String, u64>>,
    recent: Option<ListState<String>>,
    distinct: Option<ValueState<u64>>,
    keep: usize,
}

impl KeyedProcessFunction for UserActivity {
    type In = Json<Click>;
    type Out = Json<Activity>;

    fn open(&mut self, ctx: &mut OpenContext<'_>) -> Result<()> {
        self.keep = match ctx.parameter("recent") {
            Some(v) => v.parse().map_err(|_| {
                Error::msg(format!("parameter 'recent' must be a number, got '{v}'"))
            })?,
            None => 3,
        };
        self.visits = Some(ctx.map_state("visits-per-url"));
        self.recent = Some(ctx.list_state("recent-urls"));
        self.distinct = Some(ctx.value_state("distinct-urls"));
        Ok(())
    }

    fn process_element(
        &mut self,
        Json(click): Json<Click>,
        _ctx: &Context<'_>,
        out: &mut Collector<'_, Json<Activity>>,
    ) -> Result<()> {
        let (Some(visits), Some(recent), Some(distinct)) =
            (&self.visits, &self.recent, &self.distinct)
        else {
            return Err(Error::msg("not opened"));
        };
        let seen = visits.get(&click.url)?;
        let n = seen.unwrap_or(0) + 1;
        visits.put(&click.url, &n)?;
        let mut distinct_urls = distinct.get()?.unwrap_or(0);
        if seen.is_none() {
            distinct_urls += 1;
            distinct.set(&distinct_urls)?;
        }
        let mut urls = recent.get()?;
        if urls.len() + 1 > self.keep {
            let drop = urls.len() + 1 - self.keep;
            urls.drain(..drop.min(urls.len()));
            urls.push(click.url.clone());
            recent.update(&urls)?;
        } else {
            recent.add(&click.url)?;
            urls.push(click.url.clone());
        }
        out.collect(&Json(Activity {
            user: click.user,
            url: click.url,
            visits: n,
            distinct_urls,
            recent: urls,
        }))
    }
}

/// The accumulator of [`ClicksPerUser`], kept in keyed state.
#[derive(Serialize, Deserialize, Default)]
pub struct ClickStats {
    user: String,
    clicks: u64,
    pages: BTreeSet<String>,
}

/// What [`ClicksPerUser`] emits after each click.
#[derive(Serialize, Deserialize)]
pub struct UserClicks {
    user: String,
    clicks: u64,
    distinct_pages: u64,
}

/// Clicks and distinct pages per user, as an incremental aggregate.
#[derive(Default)]
pub struct ClicksPerUser;

impl AggregateFunction for ClicksPerUser {
    type In = Json<Click>;
    type Acc = Bin<ClickStats>;
    type Out = Json<UserClicks>;

    fn create_accumulator(&mut self) -> Result<Bin<ClickStats>> {
        Ok(Bin(ClickStats::default()))
    }

    fn add(
        &mut self,
        Json(click): Json<Click>,
        Bin(mut acc): Bin<ClickStats>,
    ) -> Result<Bin<ClickStats>> {
        acc.user = click.user;
        acc.clicks += 1;
        acc.pages.insert(click.url);
        Ok(Bin(acc))
    }

    fn get_result(&mut self, acc: &Bin<ClickStats>) -> Result<Json<UserClicks>> {
        Ok(Json(UserClicks {
            user: acc.0.user.clone(),
            clicks: acc.0.clicks,
            distinct_pages: acc.0.pages.len() as u64,
        }))
    }

    fn merge(
        &mut self,
        Bin(mut a): Bin<ClickStats>,
        Bin(b): Bin<ClickStats>,
    ) -> Result<Bin<ClickStats>> {
        a.clicks += b.clicks;
        a.pages.extend(b.pages);
        Ok(Bin(a))
    }
}

weir_sdk::export_functions! {
    "user-activity" => keyed_process(UserActivity),
    "clicks-per-user" => aggregate(ClicksPerUser),
}
