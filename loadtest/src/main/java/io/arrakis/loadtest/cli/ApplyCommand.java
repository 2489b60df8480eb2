package io.arrakis.loadtest.cli;

import io.arrakis.loadtest.placement.RouterAdmin;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import io.arrakis.proto.v1.SetPlacementResponse;
import io.grpc.ManagedChannel;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code arrakis placement apply}: rolls a placement out on a running router with {@code
 * SetPlacement}.
 */
@Command(
    name = "apply",
    mixinStandardHelpOptions = true,
    description =
        "Roll a placement out live: nodes load their new experts, the router switches to the new version, "
            + "nodes then unload what they no longer hold. Nodes without an address in the file keep the one the router's "
            + "current placement gives them. The file's version must be newer than the router's.")
final class ApplyCommand implements Callable<Integer> {
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

  @Mixin TargetFlags router;

  @Option(
      names = "--placement",
      required = true,
      paramLabel = "FILE",
      description = "The placement to roll out.")
  Path placement;

  @Override
  public Integer call() throws Exception {
    Placement wanted = PlacementJson.read(placement);
    TargetFlags.Target target = router.resolve();
    ManagedChannel channel = RouterAdmin.connect(target.address(), target.security());
    try {
      RouterAdmin admin = new RouterAdmin(channel, target.address(), target.security());
      Placement next = RouterAdmin.withAddresses(wanted, admin.placement());
      SetPlacementResponse r = admin.setPlacement(next);
      PrintWriter out = spec.commandLine().getOut();
      out.printf(
          "placement version %d applied: %d experts loaded, %d unloaded%n",
          r.getVersion(), r.getExpertsLoaded(), r.getExpertsUnloaded());
      out.flush();
      return 0;
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
