// The kubectl-style client commands (`get`, `apply`, `delete`, `scale`, `rollout`, `cordon`,
// `uncordon`, `drain`, `top`): each is one REST call (or a loop of them) on the controller and
// one rendering from client_format.h.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <thread>

#include "cli/client.h"
#include "cli/client_format.h"
#include "cli/commands.h"

namespace gf {

namespace {

using client::ControllerClient;
using client::Kind;
using client::OutputFormat;
using nlohmann::json;

struct CommonArgs {
  std::string controller = "http://127.0.0.1:7070";
  std::string token;
  std::string output = "table";
};

void add_common_flags(CLI::App* c, CommonArgs& a) {
  c->add_option("--controller", a.controller, "Controller URL (default: $GPUFLEET_CONTROLLER)")
      ->envname("GPUFLEET_CONTROLLER")
      ->capture_default_str();
  c->add_option("--token", a.token,
                "Admin token, sent as \"Authorization: Bearer\" (default: $GPUFLEET_TOKEN)")
      ->envname("GPUFLEET_TOKEN");
  c->add_option("-o,--output", a.output, "Output: table (for people), json or yaml (for scripts)")
      ->check(CLI::IsMember({"table", "json", "yaml"}))
      ->capture_default_str();
}

OutputFormat format_of(const CommonArgs& a) {
  auto f = client::parse_output_format(a.output);
  return f ? *f : OutputFormat::kTable;  // CLI11 checked the value already
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int fail(const std::string& message) {
  std::cerr << "error: " << message << '\n';
  return 1;
}

// A usage mistake CLI11 cannot see (options that do not fit together): reported and exited
// like CLI11's own, with the hint to --help.
[[noreturn]] void usage_error(const std::string& what, const std::string& why) {
  throw CLI::ValidationError(what, why);
}

const CLI::Validator kResource(
    [](std::string& s) {
      auto k = client::parse_kind(s);
      return k ? std::string() : k.error().message;
    },
    "nodes|gpus|deployments|replicas|events");

const CLI::Validator kDeploymentKind(
    [](std::string& s) {
      auto k = client::parse_kind(s);
      return k && *k == Kind::kDeployments
                 ? std::string()
                 : "only deployments can be " + std::string("deleted or scaled, not \"") + s + "\"";
    },
    "deployment");

// ---- get

struct GetArgs {
  CommonArgs common;
  std::string resource;
  std::string name;
  std::string subject;
  std::string deployment;
  std::string node;
};

int run_get(const GetArgs& a) {
  Kind kind = *client::parse_kind(a.resource);
  if (!a.subject.empty() && kind != Kind::kEvents)
    usage_error("--subject", "only `get events` takes it");
  if (!a.deployment.empty() && kind != Kind::kReplicas)
    usage_error("--deployment", "only `get replicas` takes it");
  if (!a.node.empty() && kind != Kind::kGpus) usage_error("--node", "only `get gpus` takes it");
  if (!a.name.empty() && !a.subject.empty())
    usage_error("--subject", "give the subject once: `get events SUBJECT` is the same");

  auto c = ControllerClient::create({a.common.controller, a.common.token});
  if (!c) return fail(c.error().message);
  std::string path = std::string("/api/v1/") + client::kind_name(kind);
  // Events have no name of their own: a name there is the subject, as `kubectl get events` does
  // with --field-selector, only shorter.
  std::string subject = kind == Kind::kEvents && !a.name.empty() ? a.name : a.subject;
  bool one = !a.name.empty() && kind != Kind::kEvents;
  if (kind == Kind::kDeployments && one) {
    path += "/" + client::escape_url_part(a.name);
  } else if (!a.node.empty()) {
    path += "?node=" + client::escape_url_part(a.node);
  } else if (!a.deployment.empty()) {
    path += "?deployment=" + client::escape_url_part(a.deployment);
  } else if (!subject.empty()) {
    path += "?subject=" + client::escape_url_part(subject);
  }
  auto body = c->get(path);
  if (!body) return fail(body.error().message);

  json shown = *body;  // what -o json|yaml prints: the API's answer, or the one object asked for
  json items;
  if (kind == Kind::kDeployments && one) {
    items = json::array({*body});
  } else {
    items = body->value(client::kind_name(kind), json::array());
    if (one) {
      // The controller lists these kinds only; one of them is picked here.
      json match;
      for (const auto& x : items) {
        if (x.value(client::kind_key(kind), "") == a.name) match = x;
      }
      if (match.is_null()) {
        return fail("no " + std::string(client::kind_singular(kind)) + " named \"" + a.name +
                    "\" (NotFound)");
      }
      shown = match;
      items = json::array({match});
    }
  }
  OutputFormat f = format_of(a.common);
  if (f != OutputFormat::kTable) {
    std::cout << client::render_data(shown, f);
    return 0;
  }
  std::string table = client::render_table(kind, items, now_ms());
  if (table.empty()) {
    // On stderr, as kubectl does, so a script reading the table sees no rows at all.
    std::cerr << "No " << client::kind_name(kind) << " found.\n";
  } else {
    std::cout << table;
  }
  return 0;
}

void add_get(CLI::App& app, int& status) {
  auto a = std::make_shared<GetArgs>();
  auto* c = app.add_subcommand("get", "List nodes, GPUs, deployments, replicas or events");
  c->add_option("resource", a->resource, "nodes, gpus, deployments, replicas or events")
      ->required()
      ->check(kResource);
  c->add_option("name", a->name,
                "Only this one: node name, GPU UUID, deployment name or replica id (for events: "
                "the subject)");
  c->add_option("--subject", a->subject,
                "events: only those about this replica, node or "
                "deployment");
  c->add_option("--deployment", a->deployment, "replicas: only this deployment's");
  c->add_option("--node", a->node, "gpus: only this node's");
  add_common_flags(c, a->common);
  c->callback([a, &status] { status = run_get(*a); });
}

// ---- apply

struct ApplyArgs {
  CommonArgs common;
  std::vector<std::string> files;
};

Result<std::string> read_text(const std::string& file) {
  std::ostringstream s;
  if (file == "-") {
    s << std::cin.rdbuf();
    return s.str();
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot read " + file);
  s << in.rdbuf();
  return s.str();
}

int run_apply(const ApplyArgs& a) {
  auto c = ControllerClient::create({a.common.controller, a.common.token});
  if (!c) return fail(c.error().message);
  OutputFormat f = format_of(a.common);
  int rc = 0;
  for (const auto& file : a.files) {
    auto text = read_text(file);
    if (!text) {
      rc = fail(text.error().message);
      continue;
    }
    bool is_json = file.size() > 5 && file.compare(file.size() - 5, 5, ".json") == 0;
    std::string source = file == "-" ? "<stdin>" : file;
    auto res =
        c->post("/api/v1/apply", *text, is_json ? "application/json" : "application/yaml", source);
    if (!res) {
      // Nothing further can work against a controller that does not answer.
      if (res.error().code == ErrorCode::kUnavailable) return fail(res.error().message);
      rc = fail(source + ": " + res.error().message);
      continue;
    }
    if (f != OutputFormat::kTable) {
      std::cout << client::render_data(*res, f);
      continue;
    }
    for (const auto& name : res->value("applied", json::array()))
      std::cout << "deployment/" << name.get<std::string>() << " applied\n";
    int tenants = res->value("ignoredTenants", 0);
    if (tenants > 0) {
      std::cerr << "note: " << source << ": " << tenants
                << " Tenant document(s) ignored: the controller reads tenants from its --cluster "
                   "manifest when it starts\n";
    }
  }
  return rc;
}

void add_apply(CLI::App& app, int& status) {
  auto a = std::make_shared<ApplyArgs>();
  auto* c = app.add_subcommand("apply", "Create or update deployments from manifest files");
  c->add_option("-f,--file", a->files, "Manifest file with Deployment documents (- = stdin)")
      ->required();
  add_common_flags(c, a->common);
  c->callback([a, &status] { status = run_apply(*a); });
}

// ---- delete, scale

struct DeploymentArgs {
  CommonArgs common;
  std::string kind;
  std::string name;
  int replicas = 0;
};

int run_delete(const DeploymentArgs& a) {
  auto c = ControllerClient::create({a.common.controller, a.common.token});
  if (!c) return fail(c.error().message);
  auto res = c->del("/api/v1/deployments/" + client::escape_url_part(a.name));
  if (!res) return fail(res.error().message);
  OutputFormat f = format_of(a.common);
  if (f != OutputFormat::kTable) {
    std::cout << client::render_data(*res, f);
  } else {
    std::cout << "deployment/" << a.name << " deleted\n";
  }
  return 0;
}

int run_scale(const DeploymentArgs& a) {
  auto c = ControllerClient::create({a.common.controller, a.common.token});
  if (!c) return fail(c.error().message);
  auto res = c->post("/api/v1/deployments/" + client::escape_url_part(a.name) + "/scale",
                     json{{"replicas", a.replicas}}.dump());
  if (!res) return fail(res.error().message);
  OutputFormat f = format_of(a.common);
  if (f != OutputFormat::kTable) {
    std::cout << client::render_data(*res, f);
  } else {
    int n = res->value("replicas", a.replicas);
    std::cout << "deployment/" << a.name << " scaled to " << n << " replica" << (n == 1 ? "" : "s")
              << '\n';
  }
  return 0;
}

void add_delete_and_scale(CLI::App& app, int& status) {
  auto d = std::make_shared<DeploymentArgs>();
  auto* del = app.add_subcommand("delete", "Delete a deployment and stop its replicas");
  del->add_option("kind", d->kind, "deployment")->required()->check(kDeploymentKind);
  del->add_option("name", d->name, "The deployment's name")->required();
  add_common_flags(del, d->common);
  del->callback([d, &status] { status = run_delete(*d); });

  auto s = std::make_shared<DeploymentArgs>();
  auto* sc = app.add_subcommand("scale", "Set a deployment's replica count (within min..max)");
  sc->add_option("kind", s->kind, "deployment")->required()->check(kDeploymentKind);
  sc->add_option("name", s->name, "The deployment's name")->required();
  sc->add_option("--replicas", s->replicas, "Target replica count")
      ->required()
      ->check(CLI::NonNegativeNumber);
  add_common_flags(sc, s->common);
  sc->callback([s, &status] { status = run_scale(*s); });
}

// ---- rollout

struct RolloutArgs {
  CommonArgs common;
  std::string name;
  bool watch = false;
  std::string timeout = "5m";
};

int run_rollout_status(const RolloutArgs& a) {
  auto c = ControllerClient::create({a.common.controller, a.common.token});
  if (!c) return fail(c.error().message);
  auto limit = parse_duration(a.timeout);
  if (!limit) usage_error("--timeout", limit.error().message);
  OutputFormat f = format_of(a.common);
  auto deadline = std::chrono::steady_clock::now() + *limit;
  std::string path = "/api/v1/deployments/" + client::escape_url_part(a.name) + "/rollout";
  std::string last;
  for (;;) {
    auto res = c->get(path);
    if (!res) return fail(res.error().message);
    std::string status = res->value("status", "");
    if (status != last) {
      if (f != OutputFormat::kTable) {
        std::cout << client::render_data(*res, f) << std::flush;
      } else {
        std::cout << "deployment/" << a.name << ": " << status << std::endl;
      }
      last = status;
    }
    bool complete = res->value("complete", false);
    if (!a.watch || complete) return 0;
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail("timed out after " + a.timeout + " waiting for the rollout of " + a.name);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

int run_rollout_undo(const RolloutArgs& a) {
  auto c = ControllerClient::create({a.common.controller, a.common.token});
  if (!c) return fail(c.error().message);
  auto res =
      c->post("/api/v1/deployments/" + client::escape_url_part(a.name) + "/rollout/undo", "");
  if (!res) return fail(res.error().message);
  OutputFormat f = format_of(a.common);
  if (f != OutputFormat::kTable) {
    std::cout << client::render_data(*res, f);
  } else {
    std::cout << "deployment/" << a.name << " rolled back to revision "
              << res->value("revision", "?") << '\n';
  }
  return 0;
}

void add_rollout(CLI::App& app, int& status) {
  auto* r = app.add_subcommand("rollout", "Follow or undo a deployment's rollout");
  r->require_subcommand(1);

  auto s = std::make_shared<RolloutArgs>();
  auto* st = r->add_subcommand("status", "Show how far the deployment's current revision is");
  st->add_option("name", s->name, "The deployment's name")->required();
  st->add_flag("-w,--watch", s->watch, "Keep printing changes until the rollout completes");
  st->add_option("--timeout", s->timeout, "With --watch: give up (exit 1) after this long")
      ->capture_default_str();
  add_common_flags(st, s->common);
  st->callback([s, &status] { status = run_rollout_status(*s); });

  auto u = std::make_shared<RolloutArgs>();
  auto* un = r->add_subcommand("undo", "Go back to the deployment's previous revision");
  un->add_option("name", u->name, "The deployment's name")->required();
  add_common_flags(un, u->common);
  un->callback([u, &status] { status = run_rollout_undo(*u); });
}

// ---- cordon, uncordon, drain

struct NodeArgs {
  CommonArgs common;
  std::string node;
};

int run_node_action(const NodeArgs& a, const std::string& action, const std::string& done) {
  auto c = ControllerClient::create({a.common.controller, a.common.token});
  if (!c) return fail(c.error().message);
  auto res = c->post("/api/v1/nodes/" + client::escape_url_part(a.node) + "/" + action, "");
  if (!res) return fail(res.error().message);
  OutputFormat f = format_of(a.common);
  if (f != OutputFormat::kTable) {
    std::cout << client::render_data(*res, f);
  } else {
    std::cout << "node/" << a.node << " " << done << '\n';
  }
  return 0;
}

void add_node_actions(CLI::App& app, int& status) {
  struct Action {
    const char* name;
    const char* help;
    const char* done;
  };
  static const Action kActions[] = {
      {"cordon", "Mark a node's GPUs unschedulable; running replicas stay", "cordoned"},
      {"uncordon", "Make a cordoned or drained node's GPUs schedulable again", "uncordoned"},
      {"drain", "Cordon a node and move its replicas elsewhere",
       "draining: its replicas stop and are placed elsewhere"},
  };
  for (const Action& act : kActions) {
    auto a = std::make_shared<NodeArgs>();
    auto* c = app.add_subcommand(act.name, act.help);
    c->add_option("node", a->node, "The node's name")->required();
    add_common_flags(c, a->common);
    c->callback([a, &status, act] { status = run_node_action(*a, act.name, act.done); });
  }
}

// ---- top

struct TopArgs {
  CommonArgs common;
  std::string interval = "2s";
  bool once = false;
};

volatile std::sig_atomic_t g_top_interrupted = 0;

extern "C" void on_top_interrupt(int) {
  g_top_interrupted = 1;
}

int run_top(const TopArgs& a) {
  auto c = ControllerClient::create({a.common.controller, a.common.token});
  if (!c) return fail(c.error().message);
  auto interval = parse_duration(a.interval);
  if (!interval || *interval < std::chrono::milliseconds(100))
    usage_error("--interval", interval ? "must be at least 100ms" : interval.error().message);
  OutputFormat f = format_of(a.common);
  // Ctrl-C ends the live view with exit 0 between frames, not in the middle of one.
  g_top_interrupted = 0;
  auto previous = a.once ? SIG_DFL : std::signal(SIGINT, on_top_interrupt);
  const bool tty = isatty(STDOUT_FILENO) != 0;
  int rc = 0;
  for (bool first = true; !g_top_interrupted; first = false) {
    auto gpus = c->get("/api/v1/gpus");
    auto replicas = gpus ? c->get("/api/v1/replicas") : Result<json>(gpus.error());
    std::string frame;
    if (!gpus || !replicas) {
      const Error& e = !gpus ? gpus.error() : replicas.error();
      // A controller restart while watching should not end the view; a first call that
      // fails means a wrong URL or token, which waiting will not fix.
      if (a.once || first) {
        rc = fail(e.message);
        break;
      }
      frame = "error: " + e.message + "\n(retrying every " + a.interval + ")\n";
    } else if (f != OutputFormat::kTable) {
      frame = client::render_data(json{{"gpus", gpus->value("gpus", json::array())},
                                       {"replicas", replicas->value("replicas", json::array())}},
                                  f);
    } else {
      frame = client::render_top(c->endpoint().url, gpus->value("gpus", json::array()),
                                 replicas->value("replicas", json::array()), now_ms());
    }
    if (!a.once && tty && f == OutputFormat::kTable) std::cout << "\x1b[H\x1b[2J";
    std::cout << frame << std::flush;
    if (a.once) break;
    auto until = std::chrono::steady_clock::now() + *interval;
    while (!g_top_interrupted && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!a.once) std::signal(SIGINT, previous);
  return rc;
}

void add_top(CLI::App& app, int& status) {
  auto a = std::make_shared<TopArgs>();
  auto* c = app.add_subcommand(
      "top", "Live view of GPUs (state, utilization, temperature, memory) and replicas");
  c->add_option("--interval", a->interval, "Time between refreshes")->capture_default_str();
  c->add_flag("--once", a->once, "Print one frame and exit");
  add_common_flags(c, a->common);
  c->callback([a, &status] { status = run_top(*a); });
}

}  // namespace

// ---- describe

struct DescribeArgs {
  CommonArgs common;
  std::string resource;
  std::string name;
};

int run_describe(const DescribeArgs& a) {
  auto c = ControllerClient::create({a.common.controller, a.common.token});
  if (!c) return fail(c.error().message);
  auto d = c->get("/api/v1/deployments/" + client::escape_url_part(a.name));
  if (!d) return fail(d.error().message);
  auto all = c->get("/api/v1/scaling");
  if (!all) return fail(all.error().message);
  json scaling = json::object();
  for (const auto& s : all->value("scaling", json::array())) {
    if (s.value("deployment", "") == a.name) scaling = s;
  }
  OutputFormat f = format_of(a.common);
  if (f != OutputFormat::kTable) {
    std::cout << client::render_data(json{{"deployment", *d}, {"scaling", scaling}}, f);
    return 0;
  }
  std::cout << client::describe_deployment(*d, scaling, now_ms());
  return 0;
}

void add_describe(CLI::App& app, int& status) {
  auto a = std::make_shared<DescribeArgs>();
  auto* c = app.add_subcommand(
      "describe", "Show one deployment in detail: replicas, rollout, scaling and why it scaled");
  c->add_option("resource", a->resource, "deployment")
      ->required()
      ->check(CLI::IsMember({"deployment", "deployments", "deploy"}));
  c->add_option("name", a->name, "The deployment's name")->required();
  add_common_flags(c, a->common);
  c->callback([a, &status] { status = run_describe(*a); });
}

void add_client_commands(CLI::App& app, int& status) {
  add_get(app, status);
  add_describe(app, status);
  add_apply(app, status);
  add_delete_and_scale(app, status);
  add_rollout(app, status);
  add_node_actions(app, status);
  add_top(app, status);
}

}  // namespace gf
