//! Derivations of entries recorded from real `server.json` files published to the official
//! registry (upstash/context7, Brody900/excel-lsp, apify/apify-mcp-server,
//! github/github-mcp-server, basicmachines-co/basic-memory) and the spec's own remote
//! example.

use serde_json::json;

use super::*;

fn entry(server: Value) -> RegistryServer {
    let mut s: RegistryServer = serde_json::from_value(server).unwrap();
    if s.id.is_empty() {
        s.id = s.name.clone();
    }
    s
}

fn given(pairs: &[(&str, &str)]) -> DeriveRequest {
    DeriveRequest {
        inputs: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        registry: "official".to_owned(),
        ..DeriveRequest::default()
    }
}

fn context7() -> RegistryServer {
    entry(json!({
        "name": "io.github.upstash/context7",
        "title": "Context7",
        "description": "Up-to-date code docs for any prompt",
        "version": "1.0.0",
        "packages": [{
            "registryType": "npm", "identifier": "@upstash/context7-mcp", "version": "1.0.26",
            "transport": {"type": "stdio"},
            "environmentVariables": [{"description": "API key for authentication",
                "isRequired": false, "format": "string", "isSecret": true, "name": "CONTEXT7_API_KEY"}]
        }]
    }))
}

#[test]
fn an_npm_package_runs_with_npx_at_its_version() {
    let d = derive(&context7(), &given(&[])).unwrap();
    assert_eq!(d.config.name.as_str(), "context7");
    assert_eq!(d.config.protocol, "stdio");
    assert_eq!(d.config.command, "npx");
    assert_eq!(d.config.args, ["-y", "@upstash/context7-mcp@1.0.26"]);
    assert!(d.config.env.is_empty());
    // The optional key is listed as something the user may still set.
    assert_eq!(d.unset.len(), 1);
    assert_eq!(d.unset[0].name, "CONTEXT7_API_KEY");
    assert!(d.unset[0].secret);
    assert_eq!(d.config.extra["source_registry_id"], "official");
    assert_eq!(
        d.config.extra["source_registry_server"],
        "io.github.upstash/context7"
    );
}

#[test]
fn a_supplied_value_goes_into_the_environment() {
    let d = derive(
        &context7(),
        &given(&[("CONTEXT7_API_KEY", "${env:C7_KEY}")]),
    )
    .unwrap();
    assert_eq!(d.config.env["CONTEXT7_API_KEY"], "${env:C7_KEY}");
    assert!(d.unset.is_empty());
}

#[test]
fn a_pypi_package_runs_with_uvx_and_its_arguments() {
    let s = entry(json!({
        "name": "io.github.Brody900/excel-lsp", "version": "0.1.0",
        "packages": [{"registryType": "pypi", "identifier": "excel-lsp", "version": "0.1.0",
            "runtimeHint": "uvx", "packageArguments": [{"type": "positional", "value": "serve"}],
            "transport": {"type": "stdio"}}]
    }));
    let d = derive(&s, &given(&[])).unwrap();
    assert_eq!(d.config.command, "uvx");
    assert_eq!(d.config.args, ["excel-lsp@0.1.0", "serve"]);
    let mut shown = s.clone();
    describe(&mut shown);
    assert_eq!(shown.install_cmd, "uvx excel-lsp@0.1.0 serve");
}

fn apify() -> RegistryServer {
    entry(json!({
        "name": "com.apify/apify-mcp-server",
        "description": "Extract data from any website with thousands of scrapers, crawlers, and automations on Apify Store ⚡",
        "version": "0.17.4",
        "remotes": [{"type": "streamable-http", "url": "https://mcp.apify.com/",
            "headers": [{"name": "Authorization",
                "description": "Apify API token for authentication with Apify platform services. For example 'Bearer <apify-api-token>'",
                "isRequired": true, "isSecret": true}]}]
    }))
}

#[test]
fn a_remote_that_needs_a_header_says_so_and_adds_nothing() {
    let err = derive(&apify(), &given(&[])).unwrap_err();
    assert_eq!(err.code(), "missing_required_input");
    let DeriveError::MissingInputs { missing, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(missing[0].name, "Authorization");
    assert_eq!(missing[0].kind, "header");
    assert!(missing[0].secret);
    assert!(err.to_string().contains("Authorization (header)"), "{err}");
}

#[test]
fn a_remote_with_its_header_is_an_http_server() {
    let d = derive(
        &apify(),
        &given(&[("Authorization", "Bearer ${env:APIFY_TOKEN}")]),
    )
    .unwrap();
    assert_eq!(d.config.protocol, "http");
    assert_eq!(d.config.url, "https://mcp.apify.com/");
    assert_eq!(
        d.config.headers["Authorization"],
        "Bearer ${env:APIFY_TOKEN}"
    );
    assert!(d.config.command.is_empty());
    assert_eq!(d.config.name.as_str(), "apify-mcp-server");
}

#[test]
fn url_variables_take_their_defaults_or_given_values() {
    let s = entry(json!({
        "name": "io.github.user/remote-weather", "version": "2.1.0",
        "remotes": [{"type": "streamable-http", "url": "https://{host}/mcp",
            "headers": [{"name": "Authorization", "isSecret": true, "isRequired": true}],
            "variables": {"host": {"description": "API host", "default": "api.example.com"}}}]
    }));
    let d = derive(&s, &given(&[("Authorization", "t")])).unwrap();
    assert_eq!(d.config.url, "https://api.example.com/mcp");
    let d = derive(
        &s,
        &given(&[("Authorization", "t"), ("host", "eu.example.com")]),
    )
    .unwrap();
    assert_eq!(d.config.url, "https://eu.example.com/mcp");
}

#[test]
fn a_container_gets_its_runtime_arguments_and_secret_variable() {
    let s = entry(json!({
        "name": "io.github.github/github-mcp-server", "version": "0.20.1",
        "packages": [{"registryType": "oci",
            "identifier": "ghcr.io/github/github-mcp-server:0.20.1",
            "transport": {"type": "stdio"},
            "runtimeArguments": [
                {"type": "positional", "value": "run", "isRequired": true},
                {"type": "named", "name": "-i", "value": "true", "format": "boolean", "isRequired": true},
                {"type": "named", "name": "--rm", "value": "true", "format": "boolean"},
                {"type": "named", "name": "-e", "value": "GITHUB_PERSONAL_ACCESS_TOKEN={token}", "isRequired": true,
                 "variables": {"token": {"isRequired": true, "isSecret": true, "format": "string"}}},
                {"type": "positional", "valueHint": "image_name", "value": "ghcr.io/github/github-mcp-server", "isRequired": true}
            ]}]
    }));
    let err = derive(&s, &given(&[])).unwrap_err();
    assert!(err.to_string().contains("token (variable)"), "{err}");
    let d = derive(&s, &given(&[("token", "${env:GH_PAT}")])).unwrap();
    assert_eq!(d.config.command, "docker");
    assert_eq!(
        d.config.args,
        [
            "run",
            "-i",
            "--rm",
            "-e",
            "GITHUB_PERSONAL_ACCESS_TOKEN=${env:GH_PAT}",
            "ghcr.io/github/github-mcp-server"
        ]
    );
}

#[test]
fn a_package_its_runtime_arguments_already_name_is_not_repeated() {
    let s = entry(json!({
        "name": "io.github.basicmachines-co/basic-memory", "version": "0.18.1",
        "packages": [{"registryType": "pypi", "identifier": "basic-memory", "version": "0.18.1",
            "runtimeHint": "uvx",
            "runtimeArguments": [{"type": "positional", "value": "basic-memory"}, {"type": "positional", "value": "mcp"}],
            "transport": {"type": "stdio"}}]
    }));
    let d = derive(&s, &given(&[])).unwrap();
    assert_eq!(d.config.args, ["basic-memory", "mcp"]);
}

#[test]
fn a_package_is_preferred_over_a_remote_and_a_bundle_alone_is_refused() {
    let mut hybrid = context7();
    hybrid.remotes = apify().remotes;
    let d = derive(&hybrid, &given(&[])).unwrap();
    assert_eq!(d.config.command, "npx");
    let bundle = entry(json!({
        "name": "io.modelcontextprotocol/text-editor",
        "packages": [{"registryType": "mcpb", "identifier": "https://github.com/x/y.mcpb", "version": "1.0.2"}]
    }));
    assert_eq!(
        derive(&bundle, &given(&[])).unwrap_err().code(),
        "not_runnable"
    );
}

#[test]
fn snake_case_entries_of_older_registries_are_read_too() {
    let s = entry(json!({
        "name": "io.github.example/weather-mcp",
        "packages": [{"registry_type": "pypi", "identifier": "weather-mcp-server", "version": "0.5.0",
            "runtime_hint": "uvx",
            "environment_variables": [{"name": "WEATHER_API_KEY", "is_required": true, "is_secret": true},
                                      {"name": "WEATHER_UNITS", "default": "celsius"}]}]
    }));
    let err = derive(&s, &given(&[])).unwrap_err();
    assert!(err.to_string().contains("WEATHER_API_KEY (env)"));
    let d = derive(&s, &given(&[("WEATHER_API_KEY", "k")])).unwrap();
    assert_eq!(d.config.args, ["weather-mcp-server@0.5.0"]);
    assert_eq!(d.config.env["WEATHER_UNITS"], "celsius");
}
