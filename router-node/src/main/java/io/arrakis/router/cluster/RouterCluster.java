package io.arrakis.router.cluster;

import io.arrakis.router.request.PlacementApplier;
import io.arrakis.router.request.RouterGuardian;
import io.arrakis.router.stats.LoadStats;
import java.time.Clock;
import java.util.List;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.SingletonActor;
import org.apache.pekko.management.cluster.bootstrap.ClusterBootstrap;
import org.apache.pekko.management.javadsl.PekkoManagement;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes a router a member of the router cluster: Cluster Bootstrap on Kubernetes (seed nodes come
 * from the configuration otherwise), the load gossip, the rollout receiver, and the placement
 * controller singleton (started here, running on the oldest router), which every router joining
 * starts a round of ({@link RouterJoins}).
 */
public final class RouterCluster {
  private static final Logger log = LoggerFactory.getLogger(RouterCluster.class);

  /** What a router brings to its cluster. */
  public record Member(
      String routerId,
      LoadStats stats,
      ClusterLoadView view,
      List<Integer> moeLayers,
      int numExperts,
      PlacementApplier applier) {}

  private RouterCluster() {}

  public static void join(
      ActorSystem<RouterGuardian.Command> system,
      ClusterSettings settings,
      Member member,
      PlacementSink sink) {
    if (settings.mode() == ClusterSettings.Mode.KUBERNETES) {
      var classic = Adapter.toClassic(system);
      PekkoManagement.get(classic).start();
      ClusterBootstrap.get(classic).start();
      log.info(
          "router cluster: bootstrapping from router pods ({}), management on port {}",
          settings.bootstrapSelector(),
          settings.managementPort());
    } else {
      log.info(
          "router cluster: joining seed routers {} as {}:{}",
          settings.seeds(),
          settings.host(),
          settings.port());
    }
    system.systemActorOf(
        LoadGossip.create(
            new LoadGossip.Setup(
                member.routerId(),
                member.stats(),
                system,
                member.view(),
                settings.gossipInterval(),
                Clock.systemUTC())),
        "load-gossip",
        Props.empty());
    system.systemActorOf(
        RolloutReceiver.create(member.routerId(), member.applier()),
        "rollout-receiver",
        Props.empty());
    var planner = system.dispatchers().lookup(DispatcherSelector.blocking());
    PlacementController.Setup controller =
        new PlacementController.Setup(
            settings.controller(),
            member.view()::expertTokens,
            sink,
            member.moeLayers(),
            member.numExperts(),
            planner);
    ActorRef<PlacementController.Command> controllerProxy =
        ClusterSingleton.get(system)
            .init(
                SingletonActor.of(
                    Behaviors.supervise(PlacementController.create(controller))
                        .onFailure(SupervisorStrategy.restart()),
                    "placement-controller"));
    system.systemActorOf(RouterJoins.create(controllerProxy), "router-joins", Props.empty());
  }
}
