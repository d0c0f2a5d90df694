//! The demo tenant is realistic, readable through the API, and seeding it twice changes nothing.

use afterclass_tests::serde_json::json;
use afterclass_tests::{TestApp, instructor, on_both_stores, trainee};

on_both_stores!(the_demo_tenant_is_a_cohort_midway_with_weeks_of_check_ins);

async fn the_demo_tenant_is_a_cohort_midway_with_weeks_of_check_ins(app: TestApp) {
    let now = afterclass::store::now();
    afterclass::demo::seed(&app.store, now).await.unwrap();
    let counts = app.counts().await;
    afterclass::demo::seed(&app.store, now).await.unwrap();
    assert_eq!(app.counts().await, counts, "seeding twice wrote again");

    let query = r#"{ cohorts { totalCount nodes { name stage course { title endedOn } codeOfConduct { version }
        members { totalCount nodes { role status } }
        goals { title progress { current fraction expectedFraction pace } }
        checkIns { totalCount } } } }"#;
    let data = app.ok(&instructor("ada", afterclass::demo::TENANT), query, json!({})).await;
    let cohort = &data["cohorts"]["nodes"][0];
    assert_eq!(data["cohorts"]["totalCount"], 1);
    assert_eq!(cohort["stage"], "ACTIVE");
    assert_eq!(cohort["members"]["totalCount"], 7);
    assert_eq!(cohort["members"]["nodes"][0]["role"], "LEADER");
    assert_eq!(cohort["members"]["nodes"][6]["status"], "INVITED");
    assert_eq!(cohort["checkIns"]["totalCount"], 20);
    let progress = &cohort["goals"][0]["progress"];
    assert!(progress["current"].as_f64().unwrap() > 50.0, "{progress:#}");
    let expected = progress["expectedFraction"].as_f64().unwrap();
    assert!((0.6..0.7).contains(&expected), "four weeks into six: {expected}");

    // A demo trainee sees the cohort too.
    let data = app
        .ok(
            &trainee("grace", afterclass::demo::TENANT),
            "{ cohorts(filter: { mine: true }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["cohorts"]["totalCount"], 1);
    app.stop().await;
}
