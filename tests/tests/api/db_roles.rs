//! How the service opens its database: migrations as the tables' owner, serving as a role that owns nothing
//! and only appends to the audit trail — in the private cluster, and with an operator's two URLs.

use clap::Parser;
use sqlx::{ConnectOptions, PgPool};
use xinfang_server::{
    cluster::SERVICE_ROLE,
    config::Cli,
    db,
    startup::{DATABASE_NAME, Database},
};
use xinfang_tests::{empty_database, owner_options, service_options};

fn config(args: &[&str]) -> xinfang_server::config::Config {
    let mut argv = vec!["xinfang-server"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).unwrap().config
}

async fn role_and_power(pool: &PgPool) -> (String, bool) {
    let mut conn = pool.acquire().await.unwrap();
    (
        db::current_role(&mut conn).await.unwrap(),
        db::can_alter_audit_trail(&mut conn).await.unwrap(),
    )
}

async fn update_audit_log(pool: &PgPool) -> Option<String> {
    sqlx::query("UPDATE audit_log SET subject = subject")
        .execute(pool)
        .await
        .err()
        .and_then(|e| {
            e.as_database_error()
                .and_then(|d| d.code())
                .map(|c| c.into_owned())
        })
}

#[tokio::test]
async fn the_private_cluster_migrates_as_its_superuser_and_serves_as_the_service_role() {
    if std::env::var_os("DATABASE_URL").is_some() {
        // The environment would point the service at that database instead of a private cluster.
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data_dir = tmp.path().to_str().unwrap();
    let config = config(&["--data-dir", data_dir]);
    let database = Database::open(&config).await.expect("open");
    assert_eq!(
        role_and_power(&database.pool).await,
        (SERVICE_ROLE.to_owned(), false)
    );
    assert_eq!(
        update_audit_log(&database.pool).await.as_deref(),
        Some("42501")
    );
    database.close().await;

    // A second start finds the role and the grants in place (and makes sure of them again).
    let database = Database::open(&config).await.expect("second open");
    let (role, _) = role_and_power(&database.pool).await;
    assert_eq!(role, SERVICE_ROLE);
    let name: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&database.pool)
        .await
        .unwrap();
    assert_eq!(name, DATABASE_NAME);
    database.close().await;
}

#[tokio::test]
async fn an_operator_gives_the_owner_for_migrations_and_the_service_role_for_serving() {
    let name = empty_database().await;
    let owner_url = owner_options(&name).to_url_lossy().to_string();
    let service_url = service_options(&name).to_url_lossy().to_string();

    // The service role's URL alone cannot set up a new database: it may not create tables.
    let err = Database::open(&config(&["--database-url", &service_url]))
        .await
        .err()
        .expect("the service role cannot migrate");
    assert!(
        format!("{err:#}").contains("--migrate-database-url"),
        "{err:#}"
    );

    // Both URLs: migrated as the owner, the service role gets its grants and serves.
    let both = config(&[
        "--database-url",
        &service_url,
        "--migrate-database-url",
        &owner_url,
    ]);
    let database = Database::open(&both).await.expect("open with both urls");
    assert_eq!(
        role_and_power(&database.pool).await,
        (SERVICE_ROLE.to_owned(), false)
    );
    sqlx::query("INSERT INTO audit_log (principal_id, action, subject) VALUES (gen_random_uuid(), 'test', 'x')")
        .execute(&database.pool)
        .await
        .expect("the service role appends");
    assert_eq!(
        update_audit_log(&database.pool).await.as_deref(),
        Some("42501")
    );
    database.close().await;

    // Once migrated (a migrate job as the owner), the service role's URL alone is enough to serve; a read
    // replica's URL opens a second pool.
    let database = Database::open(&config(&[
        "--database-url",
        &service_url,
        "--read-database-url",
        &service_url,
    ]))
    .await
    .expect("open with the service role only");
    assert_eq!(role_and_power(&database.pool).await.0, SERVICE_ROLE);
    let read = database.read_pool.as_ref().expect("a read pool");
    let visits: i64 = sqlx::query_scalar("SELECT count(*) FROM visits")
        .fetch_one(read)
        .await
        .unwrap();
    assert_eq!(visits, 0);
    database.close().await;

    // The owner's URL alone works as before (with a warning): it can change the trail.
    let database = Database::open(&config(&["--database-url", &owner_url]))
        .await
        .expect("open with the owner only");
    assert!(role_and_power(&database.pool).await.1);
    database.close().await;
}
