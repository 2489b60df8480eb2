package io.arrakis.router.plan;

import io.arrakis.model.placement.ExpertId;
import java.util.Set;
import java.util.stream.Collectors;

/** No node in rotation holds some expert a request needs. */
public final class NoReplicaException extends RuntimeException {
  public NoReplicaException(int layer, Set<ExpertId> experts) {
    super(
        "no serving expert node holds layer "
            + layer
            + " expert"
            + (experts.size() > 1 ? "s " : " ")
            + experts.stream()
                .map(e -> Integer.toString(e.expert()))
                .collect(Collectors.joining(", ")));
  }
}
