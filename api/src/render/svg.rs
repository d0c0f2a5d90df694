//! The progress chart drawn as SVG: a burn-up chart of each goal of a cohort, each goal's
//! progress as a fraction of its target (0..1) against its linear pace line. Pure: [`render`]
//! draws from [`ChartData`] alone, and the same data draws the same picture.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// What the chart shows; everything [`render`] needs, and nothing it has to look up.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartData {
    pub cohort_name: String,
    /// The left edge: the cohort's activation, or its creation if it was never activated.
    pub start: DateTime<Utc>,
    /// The right edge: now, or the end of the last deadline if that came earlier.
    pub end: DateTime<Utc>,
    pub goals: Vec<GoalSeries>,
}

/// One goal's line and pace.
#[derive(Debug, Clone, PartialEq)]
pub struct GoalSeries {
    pub title: String,
    pub deadline: Option<NaiveDate>,
    /// Progress at each sampled moment, as a fraction of the target (0..1), in time order.
    pub actual: Vec<(DateTime<Utc>, f64)>,
    /// The linear pace to the deadline, as the corners of its line; `None` without a deadline.
    pub pace: Option<Vec<(DateTime<Utc>, f64)>>,
}

const WIDTH: f64 = 800.0;
const PLOT_LEFT: f64 = 64.0;
const PLOT_RIGHT: f64 = 772.0;
const PLOT_TOP: f64 = 60.0;
const PLOT_BOTTOM: f64 = 340.0;
const LEGEND_TOP: f64 = 392.0;
const LEGEND_ROW: f64 = 22.0;
/// Colours told apart with colour-blindness too (Okabe and Ito), dark enough on white.
const PALETTE: [&str; 7] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];
/// Longest goal title in the legend (the full title is its tooltip) and cohort name in the heading.
const LEGEND_CHARS: usize = 70;
const HEADING_CHARS: usize = 80;

/// Text for XML content or a quoted attribute: the five special characters escaped, line breaks
/// and tabs as spaces, and characters XML 1.0 cannot carry at all left out.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}' => out.push(c),
            _ => {}
        }
    }
    out
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// The whole chart as a standalone SVG document. Pure: the same data draws the same picture.
pub fn render(data: &ChartData) -> String {
    let rows = data.goals.len().max(1) as f64;
    let height = LEGEND_TOP + LEGEND_ROW * (rows + 1.0) + 8.0;
    let span = (data.end - data.start).num_microseconds().unwrap_or(i64::MAX).max(1) as f64;
    let x = |t: DateTime<Utc>| {
        let offset = (t - data.start).num_microseconds().unwrap_or(0) as f64;
        PLOT_LEFT + (offset / span).clamp(0.0, 1.0) * (PLOT_RIGHT - PLOT_LEFT)
    };
    let y = |fraction: f64| {
        let f = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
        PLOT_BOTTOM - f * (PLOT_BOTTOM - PLOT_TOP)
    };
    let name = escape(&data.cohort_name);
    let date_format = if data.end - data.start >= Duration::days(2) { "%b %-d" } else { "%b %-d %H:%M" };

    let mut out = String::with_capacity(4096 + 1024 * data.goals.len());
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" aria-labelledby="chart-title chart-desc" font-family="Helvetica, Arial, sans-serif" font-size="13" fill="#222222">"##
    );
    let _ = write!(out, r#"<title id="chart-title">Progress of {name}</title>"#);
    let _ = write!(
        out,
        r#"<desc id="chart-desc">Burn-up chart from {} to {} (UTC): each goal's progress as a share of its target (solid lines) against the linear pace from activation to its deadline (dashed lines).</desc>"#,
        data.start.format("%Y-%m-%d %H:%M"),
        data.end.format("%Y-%m-%d %H:%M"),
    );
    let _ = write!(out, r##"<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>"##);
    let _ = write!(
        out,
        r#"<text x="{PLOT_LEFT}" y="32" font-size="18" font-weight="bold">Progress — {}</text>"#,
        escape(&truncate(&data.cohort_name, HEADING_CHARS))
    );

    // The y axis: a grid line and a label every quarter of the target.
    out.push_str(r#"<g class="y-axis" font-size="12" text-anchor="end">"#);
    for quarter in 0..=4 {
        let fraction = f64::from(quarter) / 4.0;
        let at = y(fraction);
        let stroke = if quarter == 0 { r##"stroke="#444444""## } else { r##"stroke="#dddddd""## };
        let _ = write!(out, r#"<line x1="{PLOT_LEFT}" y1="{at:.1}" x2="{PLOT_RIGHT}" y2="{at:.1}" {stroke}/>"#);
        let _ = write!(out, r#"<text x="{:.1}" y="{:.1}">{}%</text>"#, PLOT_LEFT - 8.0, at + 4.0, quarter * 25);
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="start">of target</text>"#,
        PLOT_LEFT - 40.0,
        PLOT_TOP - 12.0
    );
    out.push_str("</g>");

    // The x axis: five dates from start to end.
    out.push_str(r##"<g class="x-axis" font-size="12" text-anchor="middle">"##);
    let _ = write!(
        out,
        r##"<line x1="{PLOT_LEFT}" y1="{PLOT_TOP}" x2="{PLOT_LEFT}" y2="{PLOT_BOTTOM}" stroke="#444444"/>"##
    );
    let single = data.end <= data.start;
    for tick in 0..=4 {
        if single && tick > 0 {
            break;
        }
        let t = data.start + (data.end - data.start) * tick / 4;
        let at = x(t);
        let anchor = match tick {
            0 => r#" text-anchor="start""#,
            4 => r#" text-anchor="end""#,
            _ => "",
        };
        let _ = write!(
            out,
            r##"<line x1="{at:.1}" y1="{PLOT_BOTTOM}" x2="{at:.1}" y2="{:.1}" stroke="#444444"/><text x="{at:.1}" y="{:.1}"{anchor}>{}</text>"##,
            PLOT_BOTTOM + 5.0,
            PLOT_BOTTOM + 20.0,
            t.format(date_format),
        );
    }
    let _ = write!(
        out,
        r##"<text x="{PLOT_RIGHT}" y="{:.1}" text-anchor="end" fill="#666666">UTC</text>"##,
        PLOT_BOTTOM + 36.0
    );
    out.push_str("</g>");

    if data.goals.is_empty() {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#666666">No goals yet</text>"##,
            (PLOT_LEFT + PLOT_RIGHT) / 2.0,
            (PLOT_TOP + PLOT_BOTTOM) / 2.0
        );
    }

    // The lines: pace first, so that actual progress is drawn over it.
    for (i, goal) in data.goals.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let title = escape(&goal.title);
        if let Some(pace) = &goal.pace {
            let _ = write!(
                out,
                r#"<polyline class="pace" points="{}" fill="none" stroke="{colour}" stroke-width="1.5" stroke-dasharray="6 4" opacity="0.8"><title>{title}: pace to the deadline</title></polyline>"#,
                points(pace, &x, &y)
            );
        }
        let _ = write!(
            out,
            r#"<polyline class="actual" points="{}" fill="none" stroke="{colour}" stroke-width="2.5" stroke-linejoin="round"><title>{title}</title></polyline>"#,
            points(&goal.actual, &x, &y)
        );
        if let Some(&(t, fraction)) = goal.actual.last() {
            let _ = write!(out, r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"/>"#, x(t), y(fraction));
        }
    }

    // The legend: what solid and dashed mean, then one row per goal.
    let key_y = LEGEND_TOP;
    let _ = write!(
        out,
        r##"<g class="legend-key" font-size="12" fill="#555555"><line x1="{PLOT_LEFT}" y1="{key_y}" x2="{:.1}" y2="{key_y}" stroke="#555555" stroke-width="2.5"/><text x="{:.1}" y="{:.1}">actual progress</text><line x1="{:.1}" y1="{key_y}" x2="{:.1}" y2="{key_y}" stroke="#555555" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}">linear pace to the deadline</text></g>"##,
        PLOT_LEFT + 24.0,
        PLOT_LEFT + 30.0,
        key_y + 4.0,
        PLOT_LEFT + 150.0,
        PLOT_LEFT + 174.0,
        PLOT_LEFT + 180.0,
        key_y + 4.0,
    );
    for (i, goal) in data.goals.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let row_y = LEGEND_TOP + LEGEND_ROW * (i as f64 + 1.0);
        let now = goal.actual.last().map_or(0.0, |(_, f)| if f.is_finite() { f.clamp(0.0, 1.0) } else { 0.0 });
        let due = match goal.deadline {
            Some(d) => format!("due {}", d.format("%Y-%m-%d")),
            None => "no deadline".to_owned(),
        };
        let _ = write!(
            out,
            r##"<g class="legend"><title>{}</title><line x1="{PLOT_LEFT}" y1="{row_y:.1}" x2="{:.1}" y2="{row_y:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{} <tspan fill="#666666">— {:.0}% · {due}</tspan></text></g>"##,
            escape(&goal.title),
            PLOT_LEFT + 24.0,
            PLOT_LEFT + 30.0,
            row_y + 4.0,
            escape(&truncate(&goal.title, LEGEND_CHARS)),
            now * 100.0,
        );
    }
    out.push_str("</svg>\n");
    out
}

fn points(line: &[(DateTime<Utc>, f64)], x: &impl Fn(DateTime<Utc>) -> f64, y: &impl Fn(f64) -> f64) -> String {
    let mut out = String::with_capacity(line.len() * 14);
    for (i, &(t, fraction)) in line.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{:.1},{:.1}", x(t), y(fraction));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, d, 0, 0, 0).single().unwrap_or_default()
    }

    fn data() -> ChartData {
        let actual = |fs: &[f64]| fs.iter().enumerate().map(|(i, f)| (day(1 + i as u32), *f)).collect::<Vec<_>>();
        ChartData {
            cohort_name: "Rust & friends".into(),
            start: day(1),
            end: day(5),
            goals: vec![
                GoalSeries {
                    title: r#"Read <Rust> & "Tokio" 'book'"#.into(),
                    deadline: NaiveDate::from_ymd_opt(2026, 11, 9),
                    actual: actual(&[0.0, 0.1, 0.3, 0.35, 0.6]),
                    pace: Some(vec![(day(1), 0.0), (day(5), 0.4)]),
                },
                GoalSeries {
                    title: "Exercises".into(),
                    deadline: None,
                    actual: actual(&[0.0, 0.0, 0.2, 0.5, 1.0]),
                    pace: None,
                },
            ],
        }
    }

    #[test]
    fn every_goal_gets_a_line_and_only_goals_with_a_deadline_get_a_pace_line() {
        let svg = render(&data());
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 800 "), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches(r#"<polyline class="actual""#).count(), 2);
        assert_eq!(svg.matches(r#"<polyline class="pace""#).count(), 1);
        assert_eq!(svg.matches(r#"stroke-dasharray="6 4""#).count(), 2, "the pace line and its legend key");
        assert_eq!(svg.matches(r#"<g class="legend">"#).count(), 2);
        assert!(svg.contains("<title id=\"chart-title\">Progress of Rust &amp; friends</title>"), "{svg}");
        assert!(svg.contains("— 60% · due 2026-11-09") && svg.contains("— 100% · no deadline"), "{svg}");
    }

    #[test]
    fn titles_are_escaped_for_xml() {
        let svg = render(&data());
        assert!(svg.contains("Read &lt;Rust&gt; &amp; &quot;Tokio&quot; &apos;book&apos;"), "{svg}");
        assert!(!svg.contains("<Rust>") && !svg.contains("\"Tokio\"") && !svg.contains("& \""));
        assert_eq!(escape("a\u{0}b\u{1b}c\nd\u{FFFE}"), "abc d");
        assert_eq!(escape("<script>alert('x')</script>"), "&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;");
    }

    #[test]
    fn lines_run_from_the_left_edge_to_the_right_and_from_zero_to_the_top() {
        let svg = render(&data());
        // Exercises: 0 at the start (bottom left) and the full target at the end (top right).
        assert!(svg.contains(&format!(r#"points="{PLOT_LEFT:.1},{PLOT_BOTTOM:.1} "#)), "{svg}");
        assert!(svg.contains(&format!(" {PLOT_RIGHT:.1},{PLOT_TOP:.1}\"")), "{svg}");
    }

    #[test]
    fn odd_data_draws_without_nan_or_overflow() {
        let mut odd = data();
        odd.end = odd.start;
        odd.goals[0].actual = vec![(day(1), f64::NAN)];
        odd.goals[1].actual = vec![(day(1), 7.0), (day(9), -3.0)];
        let svg = render(&odd);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        let empty = render(&ChartData { goals: Vec::new(), ..data() });
        assert!(empty.contains("No goals yet") && !empty.contains("<polyline"), "{empty}");
    }

    #[test]
    fn long_titles_are_shortened_in_the_legend_but_kept_whole_in_the_tooltip() {
        let mut long = data();
        long.goals[1].title = "x".repeat(200);
        let svg = render(&long);
        assert!(svg.contains(&format!("{}…", "x".repeat(LEGEND_CHARS - 1))));
        assert!(svg.contains(&format!("<title>{}</title>", "x".repeat(200))));
    }
}
