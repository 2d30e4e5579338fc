// outpost: inspect and edit a store from the command line.
//   outpost put    --db DIR [--model FILE] ENTITY JSON   prints the id; an existing "id" updates
//   outpost get    --db DIR ENTITY ID                    prints the object as JSON
//   outpost remove --db DIR ENTITY ID
//   outpost list   --db DIR ENTITY [--limit N]           one JSON object per line
//   outpost stats  --db DIR                              entities, counts, sizes
//   outpost model  --db DIR                              the stored model as JSON
//   outpost query  --db DIR ENTITY [--where EXPR] [--order PROP[,desc][,ci][,nullsfirst]]...
//                  [--offset N] [--limit N] [--count] [--explain]   JSON lines (docs/queries.md)
//   outpost sync   --db DIR [--model FILE] --url ws://... [--secret S | --token T |
//                  --token-file F] [--var K=V]... (--until-synced [--timeout S] | --watch)
//   outpost check  --db DIR          verifies every object, index, GID and change-log record;
//                                    exit 0 clean, 3 damage found
//   outpost token  (--key FILE | --shared-key S) --sub NAME [--claim K=V]... [--ttl 1h]
//                  [--nbf-in D] [--kid K] [--iss I] [--aud A]... [--alg A]     prints a JWT
//   outpost token  --key FILE --kid K --print-jwks       the JWKS of the key's public half
// Errors go to stderr with exit code 1 (2 for bad usage).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "commands.hpp"

int main(int argc, char** argv) {
    CLI::App app{"outpost: inspect and edit an Outpost store"};
    app.require_subcommand(1);
    outpost::cli::Options o;

    auto add_db = [&](CLI::App* sub) {
        sub->add_option("--db", o.db, "store directory")->required();
        sub->add_option("--model", o.model, "model file (needed when DIR holds no store yet)");
    };
    auto* put = app.add_subcommand("put", "put an object given as JSON; prints its id");
    add_db(put);
    put->add_option("entity", o.entity, "entity name")->required();
    put->add_option("json", o.json, "the object as JSON (docs/object-json.md)")->required();

    auto* get = app.add_subcommand("get", "print one object as JSON");
    add_db(get);
    get->add_option("entity", o.entity)->required();
    get->add_option("id", o.id)->required();

    auto* rm = app.add_subcommand("remove", "remove one object");
    add_db(rm);
    rm->add_option("entity", o.entity)->required();
    rm->add_option("id", o.id)->required();

    auto* list = app.add_subcommand("list", "print every object of an entity, one JSON per line");
    add_db(list);
    list->add_option("entity", o.entity)->required();
    list->add_option("--limit", o.limit, "print at most N objects");

    auto* stats = app.add_subcommand("stats", "entities, object counts and sizes");
    add_db(stats);
    auto* model = app.add_subcommand("model", "print the store's model as JSON");
    add_db(model);

    auto* query =
        app.add_subcommand("query", "print the objects matching a condition (docs/queries.md)");
    add_db(query);
    query->add_option("entity", o.entity)->required();
    query->add_option("--where", o.where, "condition in the query syntax, e.g. 'age >= 18'");
    query->add_option("--order", o.order, "PROP[,desc][,ci][,nullsfirst]; repeat for more keys");
    query->add_option("--offset", o.offset, "skip the first N results");
    query->add_option("--limit", o.limit, "print at most N results");
    query->add_flag("--count", o.count, "print only the number of results");
    query->add_flag("--explain", o.explain, "print the query plan instead of results");

    auto* check = app.add_subcommand(
        "check",
        "verify a store: every object, index, global id and change-log record (exit 0: clean, "
        "3: damage found)");
    check->add_option("--db", o.db, "store directory")->required();

    outpost::cli::SyncOptions so;
    auto* sync = app.add_subcommand("sync", "sync the store with an Outpost sync server");
    sync->add_option("--db", so.store.db, "store directory")->required();
    sync->add_option("--model", so.store.model, "model file (needed when DIR holds no store yet)");
    sync->add_option("--url", so.urls,
                     "ws://HOST:PORT or wss://... (repeatable: one picked per attempt)")
        ->required();
    auto* secret = sync->add_option("--secret", so.secret, "the server's shared secret");
    auto* sync_token = sync->add_option("--token", so.token, "a JWT to log in with (docs/auth.md)");
    auto* token_file = sync->add_option(
        "--token-file", so.token_file,
        "a file holding the JWT; read again before each reconnect and when the token expires");
    secret->excludes(sync_token)->excludes(token_file);
    sync_token->excludes(token_file);
    sync->add_option("--var", so.variables,
                     "NAME=VALUE, repeatable: a filter variable ($client.NAME in the sync rules)");
    sync->add_option("--ca-file", so.ca_file, "wss://: PEM file of CA certificates to trust");
    auto* until =
        sync->add_flag("--until-synced", so.until_synced,
                       "push and pull until up to date, then exit (non-zero with the reason)");
    sync->add_option("--timeout", so.timeout_s, "seconds --until-synced waits (default 60)")
        ->needs(until);
    auto* watch =
        sync->add_flag("--watch", so.watch, "keep syncing; print each incoming change as JSON");
    until->excludes(watch);
    sync->callback([&] {
        if (!so.until_synced && !so.watch)
            throw CLI::ValidationError("sync", "needs --until-synced or --watch");
    });

    outpost::cli::TokenOptions to;
    auto* token = app.add_subcommand(
        "token", "print a signed JWT for development and tests, or a key's JWKS (docs/auth.md)");
    auto* key = token->add_option("--key", to.key_file, "PEM private key file (RSA or EC)");
    auto* shared = token->add_option("--shared-key", to.shared_key, "HS256 key (development)");
    auto* shared_file =
        token->add_option("--shared-key-file", to.shared_key_file, "HS256 key: a file's bytes");
    key->excludes(shared)->excludes(shared_file);
    shared->excludes(shared_file);
    auto duration = CLI::Validator(
        [](std::string& s) {
            return outpost::cli::parse_duration_s(s) ? std::string()
                                                     : "not a duration (90s, 30m, 1h, 2d, 3600)";
        },
        "DURATION");
    token->add_option("--sub", to.sub, "the sub claim (the user)");
    token->add_option("--claim", to.claims, "NAME=VALUE, repeatable; a JSON VALUE goes in as JSON");
    token->add_option("--ttl", to.ttl, "lifetime (default 1h; negative: already expired)")
        ->check(duration);
    token->add_option("--nbf-in", to.nbf_in, "nbf this far from now")->check(duration);
    token->add_option("--kid", to.kid, "the header's kid");
    token->add_option("--iss", to.iss, "the iss claim");
    token->add_option("--aud", to.aud, "an aud value, repeatable");
    token->add_option("--alg", to.alg, "RS256, ES256, HS256, ... (default: from the key)");
    auto* print_jwks =
        token->add_flag("--print-jwks", to.print_jwks, "print the JWKS of --key's public half");
    print_jwks->needs(key);
    token->callback([&] {
        if (!to.print_jwks && to.sub.empty())
            throw CLI::ValidationError("token", "needs --sub (or --print-jwks)");
        if (!to.print_jwks && !*key && !*shared && !*shared_file && to.alg != "none")
            throw CLI::ValidationError("token", "needs --key, --shared-key or --shared-key-file");
    });

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }

    outpost::Status st;
    if (*put) st = outpost::cli::put(o);
    if (*get) st = outpost::cli::get(o);
    if (*rm) st = outpost::cli::remove(o);
    if (*list) st = outpost::cli::list(o);
    if (*stats) st = outpost::cli::stats(o);
    if (*model) st = outpost::cli::model(o);
    if (*query) st = outpost::cli::query(o);
    if (*sync) st = outpost::cli::sync(so);
    if (*token) st = outpost::cli::token(to);
    if (*check) {
        auto r = outpost::cli::check(o);
        if (r) return *r;
        st = r.status();
    }
    if (!st) {
        std::fprintf(stderr, "outpost: %s\n", st.to_string().c_str());
        return 1;
    }
    return 0;
}
