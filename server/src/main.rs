use std::process::ExitCode;

use clap::Parser;
use xinfang_server::{
    auth,
    config::{AuditCommand, Cli, Command, TokenCommand},
    startup::{self, Database},
    telemetry,
};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.config.log_format);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    let command = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => return startup::run(config).await,
        other => other,
    };
    let keys = xinfang_server::pii::PiiKeys::load_or_create(&config.data_key_file())?;
    let database = Database::open(&config).await?;
    let result = async {
        startup::prepare(&database.pool, &config.data_dir(), &keys).await?;
        match command {
            Command::Serve | Command::Migrate => Ok(()),
            Command::Token(token) => token_command(&database, token).await,
            Command::Audit(AuditCommand::Verify) => {
                let sealed = xinfang_server::audit::seal(&database.pool).await?;
                match xinfang_server::audit::verify(&database.pool).await? {
                    xinfang_server::audit::Verdict::Intact(rows) => {
                        println!("audit trail intact: {rows} rows ({sealed} sealed now)");
                        Ok(())
                    }
                    xinfang_server::audit::Verdict::Broken { seq, id, why } => {
                        anyhow::bail!("audit trail broken at seal {seq} (row {id}): {why}")
                    }
                }
            }
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
