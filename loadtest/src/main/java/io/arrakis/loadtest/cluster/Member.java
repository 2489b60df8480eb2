package io.arrakis.loadtest.cluster;

import io.arrakis.model.placement.ExpertId;
import java.nio.file.Path;
import java.util.List;

/**
 * One process of a local cluster.
 *
 * @param id router-0 or the expert node's placement id
 * @param process its pid and start time
 * @param port its gRPC port on 127.0.0.1; 0 while it has not reported one
 * @param log where its stdout and stderr go
 * @param experts the experts it holds (empty for the router)
 */
public record Member(String id, ProcessRef process, int port, Path log, List<ExpertId> experts) {
  public Member {
    experts = List.copyOf(experts);
  }

  public Member withPort(int p) {
    return new Member(id, process, p, log, experts);
  }

  public String address() {
    return LocalCluster.HOST + ":" + port;
  }
}
