//! `schema`: the JSON Schema of the report, of the fleet report, or of the configuration file.

use super::CommandError;
use super::pipeline::write_stdout;
use crate::cli::SchemaArgs;

pub fn run(args: SchemaArgs) -> Result<u8, CommandError> {
    let text = if args.config {
        let mut s = serde_json::to_string_pretty(&crate::config::config_schema())
            .map_err(|e| CommandError::Io(format!("cannot serialize the schema: {e}")))?;
        s.push('\n');
        s
    } else if args.fleet {
        crate::report::fleet::fleet_schema_string()
    } else {
        crate::report::report_schema_string()
    };
    write_stdout(&text)?;
    Ok(super::EXIT_CLEAN)
}
