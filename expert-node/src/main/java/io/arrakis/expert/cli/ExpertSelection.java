package io.arrakis.expert.cli;

import io.arrakis.expert.store.ExpertSpec;
import io.arrakis.model.placement.ExpertId;
import io.arrakis.model.placement.Placement;
import io.arrakis.model.placement.PlacementJson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Which experts a node loads at start: an {@code --experts} spec, or the node's entry in a {@code
 * --placement} file, never both. With neither, the node holds every expert, as a single-node setup
 * wants. Every error is one line naming the option or file at fault.
 */
record ExpertSelection(String spec, Path placementFile) {
  static final String ALL = "all";

  ExpertSelection {
    if (spec != null && placementFile != null) {
      throw new IllegalArgumentException("give --experts or --placement, not both");
    }
  }

  /** The experts for {@code nodeId}, checked against the model's MoE layers and expert count. */
  List<ExpertId> resolve(String nodeId, List<Integer> moeLayers, int numExperts)
      throws IOException {
    if (placementFile == null) {
      return ExpertSpec.parse(spec == null ? ALL : spec, moeLayers, numExperts);
    }
    if (!Files.isRegularFile(placementFile)) {
      throw new IllegalArgumentException("placement file " + placementFile + " does not exist");
    }
    Placement placement = PlacementJson.read(placementFile);
    Placement.Node node =
        placement.nodes().stream()
            .filter(n -> n.id().equals(nodeId))
            .findFirst()
            .orElseThrow(
                () ->
                    new IllegalArgumentException(
                        "placement "
                            + placementFile
                            + " (version "
                            + placement.version()
                            + ") has no node '"
                            + nodeId
                            + "' (set --node-id to one of "
                            + placement.expertsByNode().keySet()
                            + ")"));
    for (ExpertId e : node.experts()) {
      String holds = "placement " + placementFile + ": node '" + nodeId + "' holds expert " + e;
      if (!moeLayers.contains(e.layer())) {
        throw new IllegalArgumentException(
            holds + ", but layer " + e.layer() + " is not an MoE layer of the model " + moeLayers);
      }
      if (e.expert() >= numExperts) {
        throw new IllegalArgumentException(
            holds + ", but the model's experts are 0.." + (numExperts - 1));
      }
    }
    return node.experts();
  }
}
