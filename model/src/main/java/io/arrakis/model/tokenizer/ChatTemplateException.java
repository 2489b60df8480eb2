package io.arrakis.model.tokenizer;

/** A chat that the model's chat template did not render; the message names the template's file. */
public class ChatTemplateException extends TokenizerException {
  /** Why: which side is at fault decides the answer a server gives. */
  public enum Reason {
    /**
     * The template refused the chat with {@code raise_exception} (e.g. roles that do not
     * alternate): the client's.
     */
    RAISED,
    /** The chat is past a {@link ChatTemplateLimits} limit: the client's. */
    LIMIT,
    /** The model has no chat template. */
    NO_TEMPLATE,
    /**
     * The template failed (an error in it, or something it needs that the engine lacks): the
     * model's.
     */
    TEMPLATE_ERROR
  }

  private final Reason reason;

  public ChatTemplateException(Reason reason, String message) {
    super(message);
    this.reason = reason;
  }

  public Reason reason() {
    return reason;
  }
}
