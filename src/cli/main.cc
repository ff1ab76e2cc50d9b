// lockq: the command-line tool of lockq clusters (docs/cli.md). Every
// command goes through liblockq; --server / $LOCKQ_SERVER name the nodes
// (comma-separated HOST:PORT, default 127.0.0.1:6379).
//
//   lockq lock NAME [--ttl 30s] [--wait 10s] [--shared] -- COMMAND [ARGS...]
//   lockq lock ls | info NAME
//   lockq publish KEY [MESSAGE]      lockq consume QUEUE [--count N]
//   lockq queue ls | info | purge | declare
//   lockq cluster status | transfer | add | remove      lockq call COMMAND...
//   lockq bench [--op lock|set|publish]
//
// Each family of commands lives in its own file; a subcommand's callback
// only records what to run (Globals::action), so parsing finishes, with
// its errors, before anything touches the network.

#include <cstdlib>

#include "cli/output.h"

int main(int argc, char** argv) {
  using namespace lockq::cli;
  CLI::App app{"lockq: command-line tool for lockq clusters (docs/cli.md)"};
  app.require_subcommand(1);
  Globals g;
  if (const char* env = std::getenv("LOCKQ_SERVER"); env != nullptr && *env != '\0') g.servers = env;
  app.add_option("--server,-s", g.servers, "HOST:PORT[,HOST:PORT...] of cluster nodes (env LOCKQ_SERVER)")
      ->capture_default_str();
  app.add_flag("--json", g.json, "Print JSON instead of tables");
  app.add_option_function<std::string>(
         "--retry-for",
         [&g](const std::string& text) {
           auto d = ParseDuration(text);
           if (!d.ok()) throw CLI::ValidationError("--retry-for", d.status().message());
           g.retry_for = *d;
         },
         "How long to retry while no node answers or there is no leader (e.g. 2s, 500ms; default 20s)");
  // Security (docs/security.md): redis-cli's names for the TLS flags.
  if (const char* env = std::getenv("LOCKQ_PASSWORD"); env != nullptr) g.password = env;
  app.add_option("--user", g.user, "User name sent with the password (default: default)");
  app.add_option("--password", g.password, "Password, sent as HELLO 3 AUTH (env LOCKQ_PASSWORD, safer than argv)");
  app.add_flag("--tls", g.tls.enabled, "Connect with TLS (lockqd --tls-port)");
  app.add_option("--cacert", g.tls.ca_file, "PEM CA certificates to verify the server with (default: the system's)");
  app.add_option("--cert", g.tls.cert_file, "PEM client certificate (for --tls-auth-clients yes)");
  app.add_option("--key", g.tls.key_file, "PEM private key of --cert");
  app.add_option("--sni", g.tls.server_name, "Name to check the server certificate against (default: the host)");
  app.footer("Environment: LOCKQ_SERVER=HOST:PORT[,...], LOCKQ_PASSWORD. Run 'lockq COMMAND --help' for a command's "
             "options.");

  AddLockCommands(app, g);
  AddQueueCommands(app, g);
  AddClusterCommands(app, g);
  AddBenchCommand(app, g);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (!g.action) return Fail("no command given; see lockq --help");
  return g.action();
}
