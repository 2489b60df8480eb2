package io.arrakis.loadtest.load;

import io.arrakis.proto.v1.ModelInfo;
import java.util.List;

/**
 * What a load run needs to know of the served model: from the router's GetModel, plus the input
 * bias where the model directory is at hand.
 *
 * @param hidden hidden size d
 * @param moeLayers the layers Forward accepts
 * @param bias the generator's input bias, or null
 */
public record TargetModel(int hidden, List<Integer> moeLayers, float[] bias) {
  public TargetModel {
    moeLayers = List.copyOf(moeLayers);
  }

  public static TargetModel of(ModelInfo info, float[] bias) {
    return new TargetModel(info.getHiddenSize(), info.getMoeLayersList(), bias);
  }
}
