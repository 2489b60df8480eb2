package io.arrakis.router.serve;

/**
 * The model a router generates with, as the public APIs describe it.
 *
 * @param name the model directory's name (OpenAI's {@code model} field)
 * @param family its {@code model_type}
 * @param contextTokens the longest sequence (prompt and generated tokens) it serves
 * @param vocabSize token ids are below this
 * @param hasTokenizer whether text and chat prompts (and text output) are served
 */
public record ServedModel(
    String name, String family, int contextTokens, int vocabSize, boolean hasTokenizer) {}
