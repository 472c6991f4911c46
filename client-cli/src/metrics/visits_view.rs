//! `xf metrics visits` as the bureau reads it: one row per level (本级, 赴市, 赴省, 进京) or group with the
//! total first, columns named in Chinese, this period beside the same months a year earlier and the change
//! (同比). The long table of [`super::visits_table`] stays what CSV, XLSX and JSON carry (one figure per
//! row, stable keys for programs).

use xinfang_proto::v1::{Figure, VisitFigures, VisitGrouping, VisitStatistics};

use super::monthly::LEVELS;
use crate::export::{Cell, Table};

/// The row name of a group key: a level's Chinese name, a month as 2020年03月, a unit's name from the cached
/// dictionaries (its code when the cache lacks it).
pub(crate) fn row_name(grouping: VisitGrouping, key: &str) -> String {
    if let Some((_, name)) = LEVELS.iter().find(|(k, _)| *k == key) {
        return (*name).to_owned();
    }
    if key == "township" {
        return "乡镇级".to_owned();
    }
    match grouping {
        VisitGrouping::Month => match key.split_once('-') {
            Some((y, m)) => format!("{y}年{m}月"),
            None => key.to_owned(),
        },
        _ => match crate::labels::org_name(key) {
            "" => key.to_owned(),
            name => name.to_owned(),
        },
    }
}

fn value(f: &Option<Figure>) -> Cell {
    Cell::Int(f.as_ref().map_or(0, |f| f.value))
}

fn previous(f: &Option<Figure>) -> Cell {
    Cell::Int(f.as_ref().map_or(0, |f| f.previous))
}

/// 同比 as `+12.50%`; empty on a zero base, where no change can be given.
fn yoy(f: &Option<Figure>) -> Cell {
    match f.as_ref().map(|f| f.yoy_percent.as_str()) {
        Some(p) if !p.is_empty() => {
            let sign = if p.starts_with('-') { "" } else { "+" };
            Cell::Text(format!("{sign}{p}%"))
        }
        _ => Cell::Empty,
    }
}

/// The terminal's table of visit statistics.
pub fn visits_view(stats: &VisitStatistics, grouping: VisitGrouping) -> Table {
    let mut t = Table::new(
        "visits",
        &[
            ("row", "分组"),
            ("batches", "批次"),
            ("batches_previous", "去年同期批次"),
            ("batches_yoy", "批次同比"),
            ("persons", "人次"),
            ("persons_previous", "去年同期人次"),
            ("persons_yoy", "人次同比"),
            ("initial_batches", "初访批次"),
            ("repeat_batches", "重复访批次"),
            ("collective_batches", "集体访批次"),
            ("leapfrog_batches", "越级访批次"),
            ("non_reception_batches", "非接待场所批次"),
        ],
    );
    let mut add = |name: String, f: &VisitFigures| {
        t.push(vec![
            Cell::Text(name),
            value(&f.batches),
            previous(&f.batches),
            yoy(&f.batches),
            value(&f.persons),
            previous(&f.persons),
            yoy(&f.persons),
            value(&f.initial_batches),
            value(&f.repeat_batches),
            value(&f.collective_batches),
            value(&f.leapfrog_batches),
            value(&f.non_reception_batches),
        ]);
    };
    add("合计".to_owned(), &stats.total.clone().unwrap_or_default());
    for g in &stats.levels {
        add(
            row_name(VisitGrouping::Level, &g.key),
            &g.figures.clone().unwrap_or_default(),
        );
    }
    for g in &stats.groups {
        add(
            row_name(grouping, &g.key),
            &g.figures.clone().unwrap_or_default(),
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use xinfang_proto::v1::VisitGroup;

    use super::*;

    #[test]
    fn levels_and_months_read_in_chinese_with_the_change_on_a_year_earlier() {
        let figure = |value, previous, yoy: &str| {
            Some(Figure {
                value,
                previous,
                yoy_percent: yoy.into(),
                ..Default::default()
            })
        };
        let f = VisitFigures {
            batches: figure(3, 2, "50.00"),
            persons: figure(9, 12, "-25.00"),
            ..Default::default()
        };
        let stats = VisitStatistics {
            total: Some(f.clone()),
            levels: vec![VisitGroup {
                key: "national".into(),
                figures: Some(VisitFigures {
                    batches: figure(1, 0, ""),
                    ..Default::default()
                }),
            }],
            groups: vec![VisitGroup {
                key: "2020-03".into(),
                figures: Some(f),
            }],
            ..Default::default()
        };
        let t = visits_view(&stats, VisitGrouping::Month);
        let csv = t.to_csv();
        assert!(csv.contains("\n合计,3,2,+50.00%,9,12,-25.00%,"), "{csv}");
        assert!(
            csv.contains("\n进京,1,0,,0,0,,"),
            "no change on a zero base: {csv}"
        );
        assert!(csv.contains("\n2020年03月,3,"), "{csv}");
        assert!(t.to_comfy().to_string().contains("人次同比"));
    }
}
