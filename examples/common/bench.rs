//! What every `bench_*` example shares: reading its `--name value` flags, rounding its
//! figures, and the post its sites are made of. Each example is its own program, so each includes this file as a module
//! (`#[path = "common/bench.rs"] mod bench;`); no example uses all of it.
//!
//! It does not measure anything: what is timed and how stays with each benchmark.

#![allow(dead_code)]

use std::str::FromStr;

/// The value after `name` on the command line, if `name` is given.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// The value after `name`; panics, pointing at the file's docs, when it is missing.
pub fn required(name: &str) -> String {
    arg(name).unwrap_or_else(|| panic!("{name} is required (see the file's docs)"))
}

/// The number after `name`, or `default`; panics naming the flag when it is not a number.
pub fn number<T: FromStr>(name: &str, default: T) -> T {
    arg(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} takes a number, got {v}"))
    })
}

/// The comma-separated numbers after `name`, or those of `default`.
pub fn numbers<T: FromStr>(name: &str, default: &str) -> Vec<T> {
    arg(name)
        .unwrap_or_else(|| default.to_string())
        .split(',')
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{name} takes numbers separated by commas, got {v}"))
        })
        .collect()
}

/// The `p`th percentile of `sorted` (nearest rank).
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `x` rounded to `digits` decimal places, for the printed figures.
pub fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

/// A post of about a kilobyte, the shape a brand's news post has: item `i` in `room`, titled
/// `title`, dated `date` (TOML), `note` said in its first sentence (what tells one copy from
/// another).
pub fn notice(i: usize, room: usize, title: &str, date: &str, note: &str) -> String {
    let day = 1 + i % 28;
    format!(
        "+++\ntitle = \"{title}\"\ndate = {date}\ntags = [\"council\", \"notice\"]\n+++\n\n\
         The council met on the {day}th and decided item {i} ({note}). The budget for the \
         harbour, the library and the parks is published in full on [our site](https://www.city.example/notices/{i}). \
         Residents may comment until the end of the month.\n\n\
         - What: item {i}\n- Where: the town hall, room {}\n- Who: the council and #residents\n\n\
         Questions go to the front desk, open every weekday from nine to five. Bring your card; \
         the desk answers in English, French and Portuguese. Thank you for reading, and see you at \
         the next meeting, where the council will hear what residents made of it.\n",
        room,
    )
}
