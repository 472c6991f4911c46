//! The command line: `serve` (the default) and the operator's subcommands. `main.rs` only parses and calls
//! [`run`]; the load tool's hidden `server` subcommand calls it too, so that the tests run every subcommand
//! exactly as the binary does.

mod user;

use crate::{
    auth, backup,
    config::{AuditCommand, Cli, Command, KeysCommand, StandbyCommand, TokenCommand},
    pii::{self, PiiKeys},
    standby,
    startup::{self, Database},
};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    let command = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => return startup::run(config).await,
        // These start (or attach to) the private cluster themselves, and must work on a data directory that
        // holds no database yet (restore, a new standby).
        Command::Backup { to } => {
            let manifest = backup::backup(&config, &to).await?;
            println!(
                "backup {} written: postgres {}, personal-data key {} sealed with backup key {}",
                to.display(),
                manifest.postgres_version,
                manifest.data_keys.join("+"),
                manifest.backup_key
            );
            return Ok(());
        }
        Command::Restore { from, to } => {
            let restored = backup::restore(&config, &from, to).await?;
            println!(
                "restored {} (taken {}) to {}, timeline {}; personal-data key file {} {}; start the \
                 service",
                from.display(),
                restored.manifest.created_at.to_rfc3339(),
                to.map_or_else(
                    || "the end of the WAL archive".to_owned(),
                    |t| t.to_rfc3339()
                ),
                restored.timeline,
                config.data_key_file().display(),
                restored.key_file
            );
            return Ok(());
        }
        Command::Standby(StandbyCommand::Run {
            primary_data_dir,
            name,
        }) => return standby::run(&config, &primary_data_dir, &name).await,
        Command::Standby(StandbyCommand::Promote) => {
            standby::promote(&config).await?;
            println!(
                "promoted; start the service with --data-dir {}",
                config.data_dir().display()
            );
            return Ok(());
        }
        other => other,
    };
    let keys = PiiKeys::load_or_create(&config.data_key_file())?;
    let database = Database::open(&config).await?;
    let result = async {
        startup::prepare(&database.pool, &config.data_dir(), &keys).await?;
        match command {
            Command::Token(token) => token_command(&database, token).await,
            Command::User(user) => user::run(&database.pool, user).await,
            Command::Audit(AuditCommand::Verify) => {
                let sealed = crate::audit::seal(&database.pool).await?;
                match crate::audit::verify(&database.pool).await? {
                    crate::audit::Verdict::Intact(rows) => {
                        println!("audit trail intact: {rows} rows ({sealed} sealed now)");
                        Ok(())
                    }
                    crate::audit::Verdict::Broken { seq, id, why } => {
                        anyhow::bail!("audit trail broken at seal {seq} (row {id}): {why}")
                    }
                }
            }
            Command::Keys(KeysCommand::Rotate {
                batch_size,
                pause_ms,
            }) => {
                let report = pii::rotate(
                    &database.pool,
                    &keys,
                    &pii::RotateOptions {
                        batch_size,
                        pause: std::time::Duration::from_millis(pause_ms),
                    },
                )
                .await?;
                println!(
                    "personal data sealed with key {} ({} petitioners sealed again); retired {}; take a new \
                     backup: older ones carry the old key",
                    report.new_key,
                    report.resealed,
                    report.retired.join(", ")
                );
                Ok(())
            }
            Command::Keys(KeysCommand::Status) => {
                let mut conn = database.pool.acquire().await?;
                let ring = keys.ring();
                println!("key file {}", config.data_key_file().display());
                println!("match key fingerprint {}", ring.match_fingerprint());
                let listed = pii::store::key_ids(&mut conn).await?;
                for (key, rows) in pii::store::rows_per_key(&mut conn).await? {
                    let key = key.unwrap_or_else(|| "(nothing sealed)".into());
                    println!("{key}\t{rows} petitioners");
                }
                for id in ring.ids() {
                    let role = if id == ring.current_id() { "seals" } else { "opens" };
                    let known = if listed.iter().any(|l| l == id) {
                        "in the database"
                    } else {
                        "not in the database"
                    };
                    println!("{id}\t{role}\t{known}");
                }
                Ok(())
            }
            Command::Serve
            | Command::Migrate
            | Command::Backup { .. }
            | Command::Restore { .. }
            | Command::Standby(_) => Ok(()),
        }
    }
    .await;
    database.close().await;
    result
}

async fn token_command(database: &Database, command: TokenCommand) -> anyhow::Result<()> {
    let mut conn = database.pool.acquire().await?;
    match command {
        TokenCommand::Issue {
            role,
            org,
            name,
            cert_subject,
        } => {
            let role: auth::Role = role.parse()?;
            let mut tx = database.pool.begin().await?;
            let (principal, token) = auth::issue_token(&mut tx, role, &org, &name).await?;
            if let Some(subject) = &cert_subject {
                auth::bind_certificate(&mut tx, &principal, subject).await?;
                eprintln!(
                    "client certificates with subject {subject} authenticate as this principal"
                );
            }
            tx.commit().await?;
            eprintln!(
                "issued a {} token for {} ({}), principal id {}",
                principal.role, principal.name, principal.org_code, principal.id
            );
            println!("{token}");
        }
        TokenCommand::Revoke { id } => {
            if !auth::store::revoke(&mut conn, id).await? {
                anyhow::bail!("no live token with principal id {id}");
            }
            eprintln!("revoked {id}");
        }
        TokenCommand::List => {
            for p in auth::store::list(&mut conn).await? {
                let state = match p.revoked_at {
                    Some(at) => format!("revoked {}", at.format("%Y-%m-%d %H:%M")),
                    None => "live".to_owned(),
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    p.principal.id,
                    p.principal.role,
                    p.principal.org_code,
                    p.principal.name,
                    p.created_at.format("%Y-%m-%d %H:%M"),
                    state
                );
            }
        }
    }
    Ok(())
}
