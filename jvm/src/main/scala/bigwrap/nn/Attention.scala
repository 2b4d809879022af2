package bigwrap.nn

import bigwrap.nn.Storage.raw
import com.intel.analytics.bigdl.dllib.nn.abstractnn.AbstractModule
import com.intel.analytics.bigdl.dllib.tensor.Tensor
import com.intel.analytics.bigdl.dllib.tensor.TensorNumericMath.TensorNumeric.NumericFloat
import com.intel.analytics.bigdl.dllib.utils.{RandomGenerator, T, Table}

/**
 * The core of Keras' MultiHeadAttention on projected tensors: per batch row and head,
 * softmax(mask(q·kᵀ/√keyDim))·v. Input table: q (batch, T, heads·keyDim), k (batch, S, heads·keyDim),
 * v (batch, S, heads·valueDim), then the masks this module was built to take, in order: the query's
 * (batch, T), the key/value's (batch, S), an attention mask (batch, T, S); each 1 to attend, 0 not. With
 * `causal` query t attends to steps s ≤ t only. Masked scores become -1e9 (Keras' `where(mask, scores, -1e9)`),
 * so a row with nothing to attend to averages every step, as in Keras. The softmax subtracts the row maximum in
 * fp32; the six matrix products per head run on the native GEMMs (fp32, or bf16 inputs with fp32 accumulation)
 * when `native`, else in Scala. Dropout (training only) drops attention probabilities as Keras does.
 * Output (batch, T, heads·valueDim); the masks get zero gradients.
 */
final class Attention(heads: Int, keyDim: Int, valueDim: Int, causal: Boolean, dropout: Double,
    queryMask: Boolean, keyMask: Boolean, attentionMask: Boolean, native: Boolean, bf16: Boolean)
  extends AbstractModule[Table, Tensor[Float], Float] {

  private val scale = (1.0 / math.sqrt(keyDim)).toFloat
  private val Masked = -1e9f
  /**
   * Shifted scores are clamped here before exp: exp(-87) ≈ 1.6e-38, 0 to float precision beside the row's largest
   * term (exp(0) = 1), and the vector exp takes a slow path per value below it (a masked score is -1e9).
   */
  private val ExpFloor = -87f
  @transient private lazy val products = new HeadProducts(native, bf16)
  // Saved by the forward pass: per batch row the allowed (query, source) pairs, the attention probabilities
  // before dropout and the dropout factors (batch, heads, T, S).
  private var allowed = Array.empty[Array[Boolean]]
  private var probabilities = new Array[Float](0)
  private var kept = new Array[Float](0)
  private var batch, steps, sources = 0

  private def masks(input: Table): Seq[Option[Tensor[Float]]] = {
    val given = Iterator.from(4).map(input[Tensor[Float]](_).contiguous()) // the masks present, in order
    Seq(queryMask, keyMask, attentionMask).map(present => if (present) Some(given.next()) else None)
  }

  /** (T×S) for batch row b: whether query t may attend to source s. */
  private def allowedPairs(b: Int, m: Seq[Option[Tensor[Float]]]): Array[Boolean] = {
    val ok = new Array[Boolean](steps * sources)
    java.util.Arrays.fill(ok, true)
    def on(mask: (Array[Float], Int), index: Int): Boolean = mask._1(mask._2 + index) > 0.5f
    m(0).map(raw).foreach { query =>
      for (t <- 0 until steps if !on(query, b * steps + t)) java.util.Arrays.fill(ok, t * sources, (t + 1) * sources, false)
    }
    m(1).map(raw).foreach { key =>
      for (s <- 0 until sources if !on(key, b * sources + s); t <- 0 until steps) ok(t * sources + s) = false
    }
    m(2).map(raw).foreach { pairs =>
      var i = 0
      while (i < ok.length) { ok(i) = ok(i) && on(pairs, b * steps * sources + i); i += 1 }
    }
    if (causal) for (t <- 0 until steps) java.util.Arrays.fill(ok, t * sources + math.min(t + 1, sources), (t + 1) * sources, false)
    ok
  }

  /** Head h of batch row b of a (batch, rows, heads·dim) tensor as a (rows × dim) matrix, or (dim × rows). */
  private def head(x: Array[Float], xo: Int, b: Int, h: Int, rows: Int, dim: Int, into: Array[Float],
      transposed: Boolean = false): Array[Float] = {
    var r = 0
    while (r < rows) {
      val from = xo + ((b * rows + r) * heads + h) * dim
      if (!transposed) System.arraycopy(x, from, into, r * dim, dim)
      else { var d = 0; while (d < dim) { into(d * rows + r) = x(from + d); d += 1 } }
      r += 1
    }
    into
  }

  private def addHead(from: Array[Float], x: Array[Float], xo: Int, b: Int, h: Int, rows: Int, dim: Int): Unit = {
    var r = 0
    while (r < rows) {
      val base = xo + ((b * rows + r) * heads + h) * dim
      var d = 0
      while (d < dim) { x(base + d) += from(r * dim + d); d += 1 }
      r += 1
    }
  }

  override def updateOutput(input: Table): Tensor[Float] = {
    val Seq(q, k, v) = (1 to 3).map(i => input[Tensor[Float]](i).contiguous())
    batch = q.size(1); steps = q.size(2); sources = k.size(2)
    val (qs, qo) = raw(q); val (ks, ko) = raw(k); val (vs, vo) = raw(v)
    val plane = steps * sources
    val m = masks(input)
    allowed = Array.tabulate(batch)(b => allowedPairs(b, m))
    probabilities = new Array[Float](batch * heads * plane)
    kept = if (isTraining() && dropout > 0) new Array[Float](batch * heads * plane) else new Array[Float](0)
    output.resize(batch, steps, heads * valueDim).zero()
    val (os, oo) = raw(output)
    val (qh, kh, vt) = (new Array[Float](steps * keyDim), new Array[Float](sources * keyDim), new Array[Float](valueDim * sources))
    val (scores, used, outHead) = (new Array[Float](plane), new Array[Float](plane), new Array[Float](steps * valueDim))
    for (b <- 0 until batch; h <- 0 until heads) {
      val base = (b * heads + h) * plane
      products.abT(head(qs, qo, b, h, steps, keyDim, qh), head(ks, ko, b, h, sources, keyDim, kh), scores, steps,
        keyDim, sources, forward = true)
      softmaxRows(scores, allowed(b))
      System.arraycopy(scores, 0, probabilities, base, plane)
      if (kept.isEmpty) System.arraycopy(scores, 0, used, 0, plane) else drop(scores, base, used)
      products.abT(used, head(vs, vo, b, h, sources, valueDim, vt, transposed = true), outHead, steps, sources, valueDim,
        forward = true)
      addHead(outHead, os, oo, b, h, steps, valueDim)
    }
    output
  }

  /**
   * In place: each row of scores → probabilities of the scaled, masked scores, max-subtracted. The exponentials
   * of the whole (T×S) plane go in one call to MKL's vector exp where the native library runs the products
   * (a scalar exp per score was a fifth of a Transformer's training step).
   */
  private def softmaxRows(scores: Array[Float], ok: Array[Boolean]): Unit = {
    var t = 0
    while (t < steps) {
      val row = t * sources
      var max = Float.NegativeInfinity
      var s = 0
      while (s < sources) {
        val z = if (ok(row + s)) scores(row + s) * scale else Masked
        scores(row + s) = z
        if (z > max) max = z
        s += 1
      }
      s = 0
      while (s < sources) { scores(row + s) = math.max(scores(row + s) - max, ExpFloor); s += 1 }
      t += 1
    }
    products.calls match {
      case Some(native) => native.expInPlace(scores, 0, steps * sources)
      case None => var i = 0; while (i < steps * sources) { scores(i) = math.exp(scores(i)).toFloat; i += 1 }
    }
    t = 0
    while (t < steps) {
      val row = t * sources
      var sum = 0f
      var s = 0
      while (s < sources) { sum += scores(row + s); s += 1 }
      s = 0
      while (s < sources) { scores(row + s) /= sum; s += 1 }
      t += 1
    }
  }

  /** `into` = the probabilities with dropout applied; the factors saved at `base` for backward. */
  private def drop(p: Array[Float], base: Int, into: Array[Float]): Unit = {
    val keep = (1.0 / (1.0 - dropout)).toFloat
    var i = 0
    while (i < p.length) {
      val factor = if (RandomGenerator.RNG.uniform(0, 1) >= dropout) keep else 0f
      kept(base + i) = factor
      into(i) = p(i) * factor
      i += 1
    }
  }

  override def updateGradInput(input: Table, gradOutput: Tensor[Float]): Table = {
    val Seq(q, k, v) = (1 to 3).map(i => input[Tensor[Float]](i).contiguous())
    val dy = gradOutput.contiguous()
    val (qs, qo) = raw(q); val (ks, ko) = raw(k); val (vs, vo) = raw(v); val (ds, dOff) = raw(dy)
    val Seq(dq, dk, dv) = Seq(q, k, v).map(t => Tensor[Float]().resizeAs(t).zero())
    val (dqs, dqo) = raw(dq); val (dks, dko) = raw(dk); val (dvs, dvo) = raw(dv)
    val plane = steps * sources
    val (qh, kh, kt, vh) = (new Array[Float](steps * keyDim), new Array[Float](sources * keyDim),
      new Array[Float](keyDim * sources), new Array[Float](sources * valueDim))
    val (dOut, p, used, dp) = (new Array[Float](steps * valueDim), new Array[Float](plane), new Array[Float](plane),
      new Array[Float](plane))
    val (dvHead, dqHead, dkHead) = (new Array[Float](sources * valueDim), new Array[Float](steps * keyDim),
      new Array[Float](sources * keyDim))
    for (b <- 0 until batch; h <- 0 until heads) {
      val base = (b * heads + h) * plane
      head(ds, dOff, b, h, steps, valueDim, dOut)
      System.arraycopy(probabilities, base, p, 0, plane)
      var i = 0
      while (i < plane) { used(i) = if (kept.isEmpty) p(i) else p(i) * kept(base + i); i += 1 }
      // v's gradient: usedᵀ · dOut; the probabilities': dOut · vᵀ, then back through dropout.
      java.util.Arrays.fill(dvHead, 0f)
      products.addTransposedProduct(dOut, used, dvHead, steps, valueDim, sources)
      addHead(dvHead, dvs, dvo, b, h, sources, valueDim)
      products.abT(dOut, head(vs, vo, b, h, sources, valueDim, vh), dp, steps, valueDim, sources, forward = false)
      if (kept.nonEmpty) { i = 0; while (i < plane) { dp(i) *= kept(base + i); i += 1 } }
      softmaxBackward(p, dp, allowed(b))
      products.abT(dp, head(ks, ko, b, h, sources, keyDim, kt, transposed = true), dqHead, steps, sources, keyDim,
        forward = false)
      addHead(dqHead, dqs, dqo, b, h, steps, keyDim)
      java.util.Arrays.fill(dkHead, 0f)
      products.addTransposedProduct(head(qs, qo, b, h, steps, keyDim, qh), dp, dkHead, steps, keyDim, sources)
      addHead(dkHead, dks, dko, b, h, sources, keyDim)
    }
    gradInput = T(dq, dk, dv)
    (4 to input.length()).foreach(i => gradInput(i) = Tensor[Float]().resizeAs(input[Tensor[Float]](i)).zero())
    gradInput
  }

  /** In place: dp → the scores' gradient p ⊙ (dp − Σ dp⊙p) / √keyDim; masked scores were constants (0). */
  private def softmaxBackward(p: Array[Float], dp: Array[Float], ok: Array[Boolean]): Unit = {
    var t = 0
    while (t < steps) {
      val row = t * sources
      var dot = 0f
      var s = 0
      while (s < sources) { dot += dp(row + s) * p(row + s); s += 1 }
      s = 0
      while (s < sources) {
        dp(row + s) = if (ok(row + s)) p(row + s) * (dp(row + s) - dot) * scale else 0f
        s += 1
      }
      t += 1
    }
  }

  override def toString: String = s"Attention($heads heads, key $keyDim, value $valueDim${if (causal) ", causal" else ""})"
}

/** The per-head matrix products, on the native GEMMs when `native` (and the library loaded), else in Scala. */
private final class HeadProducts(native: Boolean, bf16: Boolean) {
  /** The native library when this layer runs on it. */
  val calls: Option[NativeCalls] = if (native) NativeKernels.calls else None
  private val useBf16 = bf16 && NativeKernels.bf16
  private var weight16 = new Array[Short](0)

  /**
   * c(m×n) = a(m×k) · bᵀ, b stored (n×k); bf16 operands only for the forward pass (`forward`): the backward
   * products feed gradients that are differences of nearly equal terms (softmax's), which bf16 rounding would
   * swamp, so they stay fp32, as do the weight-like products below.
   */
  def abT(a: Array[Float], b: Array[Float], c: Array[Float], m: Int, k: Int, n: Int, forward: Boolean): Unit = calls match {
    case Some(kernels) =>
      val low = useBf16 && forward
      if (low && weight16.length < n * k) weight16 = new Array[Short](n * k)
      kernels.denseForward(a, 0, b, 0, if (low) weight16 else null, null, 0, c, 0, m, k, n, 0, low)
    case None =>
      java.util.Arrays.fill(c, 0, m * n, 0f)
      Gemm.nt(a, 0, b, 0, c, 0, m, k, n)
  }

  /** c(n×k) += bᵀ · a with a (m×k), b (m×n), fp32 (backward only: e.g. the keys' gradient sums score gradients
   * whose rows add up to exactly 0, softmax ignoring a shift). */
  def addTransposedProduct(a: Array[Float], b: Array[Float], c: Array[Float], m: Int, k: Int, n: Int): Unit = calls match {
    case Some(kernels) => kernels.denseGradParams(a, 0, b, 0, c, 0, null, 0, m, k, n, 1f, 0f, false)
    case None => Gemm.tn(b, 0, a, 0, c, 0, n, m, k)
  }
}
