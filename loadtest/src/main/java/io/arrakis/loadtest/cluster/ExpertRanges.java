package io.arrakis.loadtest.cluster;

import io.arrakis.model.placement.ExpertId;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Experts written compactly, layer by layer, as the expert node's --experts takes them:
 * "0:0-3,1:4".
 */
public final class ExpertRanges {
  private ExpertRanges() {}

  public static String format(List<ExpertId> experts) {
    Map<Integer, List<Integer>> byLayer = new TreeMap<>();
    for (ExpertId e : experts) {
      byLayer.computeIfAbsent(e.layer(), k -> new ArrayList<>()).add(e.expert());
    }
    List<String> parts = new ArrayList<>();
    byLayer.forEach(
        (layer, ids) -> {
          ids.sort(null);
          List<String> runs = new ArrayList<>();
          int start = ids.get(0);
          int prev = start;
          for (int i = 1; i <= ids.size(); i++) {
            if (i < ids.size() && ids.get(i) == prev + 1) {
              prev = ids.get(i);
              continue;
            }
            runs.add(start == prev ? Integer.toString(start) : start + "-" + prev);
            if (i < ids.size()) {
              start = ids.get(i);
              prev = start;
            }
          }
          for (String r : runs) {
            parts.add(layer + ":" + r);
          }
        });
    return String.join(",", parts);
  }
}
