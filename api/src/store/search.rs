//! Free-text search over cohorts with each store's own full-text machinery: SQLite's FTS5 table
//! `cohort_search` (porter stemming, ranked by bm25 with name and domain weighted highest) and
//! PostgreSQL's `cohorts.search` `tsvector` column with its GIN index (ranked by `ts_rank`).
//! Every term must match, as a prefix, so a query narrows as it grows. Results page by offset
//! in relevance order.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

/// Who is searching: their tenant, and for trainees the person whose memberships widen what
/// they may see (`None` for instructors and the integration account, who see every cohort).
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    pub tenant_id: i64,
    pub trainee: Option<i64>,
}

/// The query's terms: letters and digits only, lower-cased, at most ten.
pub fn terms(query: &str) -> Vec<String> {
    query.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase).take(10).collect()
}

/// One page of matching cohort ids in relevance order, and how many match in all.
pub async fn search(
    conn: &impl ConnectionTrait,
    scope: Scope,
    query: &str,
    offset: u64,
    limit: u64,
) -> Result<(Vec<i64>, u64), DbErr> {
    let terms = terms(query);
    if terms.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let backend = conn.get_database_backend();
    let mut values: Vec<Value> = Vec::new();
    let bind = |v: Value, values: &mut Vec<Value>| -> String {
        values.push(v);
        if backend == DbBackend::Postgres { format!("${}", values.len()) } else { "?".to_owned() }
    };
    // `prefix` runs the full-text match once, before the join; otherwise SQLite may walk the
    // tenant's cohorts and probe the index for each of them.
    let (prefix, from, matches, rank) = match backend {
        DbBackend::Postgres => {
            let tsquery = terms.iter().map(|t| format!("{t}:*")).collect::<Vec<_>>().join(" & ");
            let q = bind(tsquery.into(), &mut values);
            (
                String::new(),
                "cohorts c".to_owned(),
                format!("c.search @@ to_tsquery('english', {q})"),
                format!("ts_rank(c.search, to_tsquery('english', {q})) DESC"),
            )
        }
        _ => {
            let fts = terms.iter().map(|t| format!("\"{t}\"*")).collect::<Vec<_>>().join(" ");
            let q = bind(fts.into(), &mut values);
            (
                format!(
                    "WITH s AS MATERIALIZED (SELECT rowid AS id, bm25(cohort_search, 4.0, 4.0, 1.0, 2.0) AS score \
                     FROM cohort_search WHERE cohort_search MATCH {q}) "
                ),
                "s JOIN cohorts c ON c.id = s.id".to_owned(),
                "1 = 1".to_owned(),
                "s.score".to_owned(),
            )
        }
    };
    let tenant = bind(scope.tenant_id.into(), &mut values);
    let mut filter = format!("{matches} AND c.tenant_id = {tenant}");
    if let Some(person) = scope.trainee {
        let person = bind(person.into(), &mut values);
        filter.push_str(&format!(" AND {}", super::queries::visible_to_trainee_sql("c", &person)));
    }
    let count_sql = format!("{prefix}SELECT COUNT(*) FROM {from} WHERE {filter}");
    let total: i64 = conn
        .query_one_raw(Statement::from_sql_and_values(backend, count_sql, values.clone()))
        .await?
        .map(|row| row.try_get_by_index(0))
        .transpose()?
        .unwrap_or(0);
    let limit_slot = bind(i64::try_from(limit).unwrap_or(i64::MAX).into(), &mut values);
    let offset_slot = bind(i64::try_from(offset).unwrap_or(i64::MAX).into(), &mut values);
    let page_sql = format!(
        "{prefix}SELECT c.id FROM {from} WHERE {filter} ORDER BY {rank}, c.id LIMIT {limit_slot} OFFSET {offset_slot}"
    );
    let rows = conn.query_all_raw(Statement::from_sql_and_values(backend, page_sql, values)).await?;
    let ids = rows.iter().map(|r| r.try_get_by_index::<i64>(0)).collect::<Result<Vec<_>, _>>()?;
    Ok((ids, u64::try_from(total).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_become_plain_terms() {
        assert_eq!(terms("Rust: async \"OR\" *tokio*"), ["rust", "async", "or", "tokio"]);
        assert!(terms("  -- ").is_empty());
        assert_eq!(terms(&"a ".repeat(50)).len(), 10);
    }
}
