package io.arrakis.router.cluster;

import io.arrakis.proto.v1.RouterLoad;
import io.arrakis.router.request.RouterGuardian;
import io.arrakis.router.stats.LoadStats;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.LWWMapKey;
import org.apache.pekko.cluster.ddata.SelfUniqueAddress;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.cluster.ddata.typed.javadsl.ReplicatorMessageAdapter;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * Shares this router's load with the router cluster through Distributed Data: every gossip interval
 * it writes its report (load over the window, placement versions in use) into a replicated map
 * keyed by member address, and from the map's changes keeps {@link ClusterLoadView} current and
 * tells the guardian the oldest placement version the other routers still use. Reports of routers
 * that are no longer members are left out.
 */
final class LoadGossip extends AbstractBehavior<LoadGossip.Command> {
  public static final org.apache.pekko.cluster.ddata.Key<LWWMap<String, RouterLoad>> KEY =
      LWWMapKey.create("arrakis-router-load");
  private static final Duration ASK_TIMEOUT = Duration.ofSeconds(5);

  public sealed interface Command {}

  private record Tick() implements Command {}

  private record GotVersions(RouterGuardian.Versions versions) implements Command {}

  private record Changed(Replicator.SubscribeResponse<LWWMap<String, RouterLoad>> response)
      implements Command {}

  private record Written(Replicator.UpdateResponse<LWWMap<String, RouterLoad>> response)
      implements Command {}

  /** What the gossip needs from its router. */
  public record Setup(
      String routerId,
      LoadStats stats,
      ActorRef<RouterGuardian.Command> guardian,
      ClusterLoadView view,
      Duration interval,
      Clock clock) {}

  private final Setup setup;
  private final ReplicatorMessageAdapter<Command, LWWMap<String, RouterLoad>> replicator;
  private final SelfUniqueAddress self;
  private final Cluster cluster;
  private final String member;
  private Map<String, RouterLoad> reports = Map.of();

  public static Behavior<Command> create(Setup setup) {
    return Behaviors.setup(
        ctx ->
            DistributedData.<Command, LWWMap<String, RouterLoad>>withReplicatorMessageAdapter(
                replicator ->
                    Behaviors.<Command>withTimers(
                        timers -> {
                          timers.startTimerWithFixedDelay(new Tick(), setup.interval());
                          return new LoadGossip(ctx, replicator, setup);
                        })));
  }

  private LoadGossip(
      ActorContext<Command> ctx,
      ReplicatorMessageAdapter<Command, LWWMap<String, RouterLoad>> replicator,
      Setup setup) {
    super(ctx);
    this.setup = setup;
    this.replicator = replicator;
    this.self = DistributedData.get(ctx.getSystem()).selfUniqueAddress();
    this.cluster = Cluster.get(ctx.getSystem());
    this.member = cluster.selfMember().address().toString();
    replicator.subscribe(KEY, Changed::new);
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(
            Tick.class,
            m -> {
              getContext()
                  .ask(
                      RouterGuardian.Versions.class,
                      setup.guardian(),
                      ASK_TIMEOUT,
                      RouterGuardian.GetVersions::new,
                      (v, failure) -> v == null ? null : new GotVersions(v));
              return this;
            })
        .onMessage(GotVersions.class, this::onVersions)
        .onMessage(Changed.class, this::onChanged)
        .onMessage(Written.class, m -> this)
        .build();
  }

  private Behavior<Command> onVersions(GotVersions m) {
    RouterLoad own =
        ClusterLoadView.report(
            setup.routerId(),
            member,
            setup.stats(),
            setup.view().window(),
            m.versions(),
            setup.clock().millis());
    replicator.askUpdate(
        replyTo ->
            new Replicator.Update<>(
                KEY,
                LWWMap.empty(),
                Replicator.writeLocal(),
                replyTo,
                map -> map.put(self, member, own)),
        Written::new);
    publish();
    return this;
  }

  private Behavior<Command> onChanged(Changed m) {
    if (m.response() instanceof Replicator.Changed<LWWMap<String, RouterLoad>> changed) {
      reports = changed.get(KEY).getEntries();
      publish();
    }
    return this;
  }

  /**
   * The view from the latest reports of current members; the other routers' oldest version to the
   * guardian.
   */
  private void publish() {
    Set<String> members = new HashSet<>();
    for (Member mb : cluster.state().getMembers()) {
      if (mb.status() == MemberStatus.up()
          || mb.status() == MemberStatus.leaving()
          || mb.status() == MemberStatus.weaklyUp()
          || mb.status() == MemberStatus.joining()) {
        members.add(mb.address().toString());
      }
    }
    List<RouterLoad> current = new ArrayList<>();
    long othersOldest = Long.MAX_VALUE;
    for (Map.Entry<String, RouterLoad> e : reports.entrySet()) {
      if (members.contains(e.getKey())) {
        current.add(e.getValue());
        if (!e.getKey().equals(member)) {
          othersOldest = Math.min(othersOldest, e.getValue().getOldestVersionInUse());
        }
      }
    }
    // a router that has not reported yet may still route by any version: nodes keep every expert
    // until it has (a router that joined just as a placement was published missed that rollout)
    for (String m : members) {
      if (!m.equals(member) && !reports.containsKey(m)) {
        othersOldest = Long.MIN_VALUE;
      }
    }
    setup.view().set(current);
    setup.guardian().tell(new RouterGuardian.PeersOldestInUse(othersOldest));
  }
}
