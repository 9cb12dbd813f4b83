//! `uma-cedar requests list|approve|deny`: an owner decides the requests her `@ask` policies held, from the
//! data directory, safe while the server runs (an approval is a stored policy, which the server's next
//! decision sees through the policy version). The same service as the HTTP API (`/uma/requests`).

use clap::Subcommand;

use super::policies::{OwnerArg, check_owner};
use super::{DataDir, Failure, Format, open_store, print_json};
use crate::clock::{Clock, SystemClock};
use crate::owner::Policies;
use crate::policy::PolicySchema;
use crate::uma::requests::{self, OwnerRequests, RequestView};

#[derive(Debug, Subcommand)]
pub enum RequestsCommand {
    /// List an owner's held requests, newest first
    List {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        owner: OwnerArg,
        /// Show only requests in this state (pending, approved, denied, expired)
        #[arg(long)]
        state: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Approve a request: writes the policy `approved-<ID>` into the owner's set
    Approve {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        owner: OwnerArg,
        /// End of the permission: a date (`2027-01-01`, midnight UTC) or an RFC 3339 time
        #[arg(long, value_name = "DATE")]
        until: Option<String>,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// The request's id, as `requests list` shows it
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Deny a request: the client's next poll is `request_denied`
    Deny {
        #[command(flatten)]
        dir: DataDir,
        #[command(flatten)]
        owner: OwnerArg,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// The request's id, as `requests list` shows it
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
}

fn print(view: &RequestView) {
    let party = match view.party.as_array().map(Vec::as_slice) {
        Some([iss, sub]) => format!(
            "{} ({})",
            sub.as_str().unwrap_or("?"),
            iss.as_str().unwrap_or("?")
        ),
        _ => view.party.to_string(),
    };
    let who = match (&view.email, &view.name) {
        (Some(email), _) => format!("{email} = {party}"),
        (None, Some(name)) => format!("{name} = {party}"),
        (None, None) => party,
    };
    println!(
        "{}\t{}\t{}\t{}\tclient={}\tasked={}\texpires={}",
        view.id,
        view.state,
        view.resource_id,
        view.scopes.join(","),
        view.client_id,
        crate::policy::approval_date(view.created_at),
        crate::policy::approval_date(view.expires_at),
    );
    println!("\tby {who}");
    if let Some(policy) = &view.policy {
        println!("\tpolicy {policy}");
    }
}

fn show(view: &RequestView, format: Format) {
    match format {
        Format::Json => print_json(&serde_json::to_value(view).unwrap_or_default()),
        Format::Text => print(view),
    }
}

pub fn run(cmd: RequestsCommand) -> Result<(), Failure> {
    let now = SystemClock.now();
    let schema = PolicySchema::base().map_err(|e| Failure::new(e.to_string()))?;
    let policies = Policies::new(schema);
    match cmd {
        RequestsCommand::List {
            dir,
            owner,
            state,
            format,
        } => {
            let store = open_store(&dir.data_dir)?;
            check_owner(&store, &owner.owner)?;
            let service = OwnerRequests {
                store: &store,
                policies: &policies,
                http_request_id: None,
            };
            let mut list = service.list(&owner.owner, now).map_err(failure)?;
            if let Some(state) = state {
                list.retain(|v| v.state == state);
            }
            match format {
                Format::Json => print_json(&serde_json::to_value(&list).unwrap_or_default()),
                Format::Text => {
                    for view in &list {
                        print(view);
                    }
                    eprintln!("{} request(s) for `{}`", list.len(), owner.owner);
                }
            }
            Ok(())
        }
        RequestsCommand::Approve {
            dir,
            owner,
            until,
            format,
            id,
        } => {
            let until = until
                .as_deref()
                .map(requests::parse_until)
                .transpose()
                .map_err(failure)?;
            let store = open_store(&dir.data_dir)?;
            check_owner(&store, &owner.owner)?;
            let view = OwnerRequests {
                store: &store,
                policies: &policies,
                http_request_id: None,
            }
            .approve(&owner.owner, &id, until, now)
            .map_err(failure)?;
            show(&view, format);
            if matches!(format, Format::Text) {
                eprintln!(
                    "approved; the owner's set now holds the policy `{}{id}`",
                    requests::APPROVAL_PREFIX
                );
            }
            Ok(())
        }
        RequestsCommand::Deny {
            dir,
            owner,
            format,
            id,
        } => {
            let store = open_store(&dir.data_dir)?;
            check_owner(&store, &owner.owner)?;
            let view = OwnerRequests {
                store: &store,
                policies: &policies,
                http_request_id: None,
            }
            .deny(&owner.owner, &id, now)
            .map_err(failure)?;
            show(&view, format);
            if matches!(format, Format::Text) {
                eprintln!("denied");
            }
            Ok(())
        }
    }
}

fn failure(err: requests::RequestError) -> Failure {
    let help = match &err {
        requests::RequestError::NotFound(_) => {
            Some("list the owner's requests with `uma-cedar requests list`")
        }
        _ => None,
    };
    let failure = Failure::new(err.to_string());
    match help {
        Some(help) => failure.help(help),
        None => failure,
    }
}
