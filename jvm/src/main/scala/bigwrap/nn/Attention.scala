package bigwrap.nn

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
 * so a row with nothing to attend to averages every step, as in Keras. The softmax subtracts the row maximum,
 * every sum accumulates in fp32, and dropout (training only) drops attention probabilities as Keras does.
 * Output (batch, T, heads·valueDim); the masks get zero gradients.
 */
final class Attention(heads: Int, keyDim: Int, valueDim: Int, causal: Boolean, dropout: Double,
    queryMask: Boolean, keyMask: Boolean, attentionMask: Boolean)
  extends AbstractModule[Table, Tensor[Float], Float] {

  private val scale = (1.0 / math.sqrt(keyDim)).toFloat
  private val Masked = -1e9f
  // Saved by the forward pass: attention probabilities after dropout, and before it (batch, heads, T, S).
  private var probabilities = new Array[Float](0)
  private var kept = new Array[Float](0)
  private var batch, steps, sources = 0

  private def raw(t: Tensor[Float]): (Array[Float], Int) = (t.storage().array(), t.storageOffset() - 1)

  private def masks(input: Table): (Option[Tensor[Float]], Option[Tensor[Float]], Option[Tensor[Float]]) = {
    var index = 4
    def next(present: Boolean): Option[Tensor[Float]] =
      if (!present) None else { val t = input[Tensor[Float]](index).contiguous(); index += 1; Some(t) }
    val q = next(queryMask)
    val k = next(keyMask)
    (q, k, next(attentionMask))
  }

  /** (T×S) per batch row: whether query t may attend to source s. */
  private def allowed(b: Int, qm: Option[Tensor[Float]], km: Option[Tensor[Float]], am: Option[Tensor[Float]]): Array[Boolean] = {
    val out = Array.fill(steps * sources)(true)
    def on(m: Option[Tensor[Float]], index: Int): Boolean = m.forall { t =>
      val (a, o) = raw(t); a(o + index) > 0.5f
    }
    var t = 0
    while (t < steps) {
      var s = 0
      while (s < sources) {
        out(t * sources + s) = on(qm, b * steps + t) && on(km, b * sources + s) &&
          on(am, (b * steps + t) * sources + s) && (!causal || s <= t)
        s += 1
      }
      t += 1
    }
    out
  }

  /** Rows `rows` of head h of a (batch, rows, heads·dim) tensor, as a contiguous (rows × dim) matrix. */
  private def head(x: Array[Float], xo: Int, b: Int, h: Int, rows: Int, dim: Int): Array[Float] = {
    val out = new Array[Float](rows * dim)
    var r = 0
    while (r < rows) { System.arraycopy(x, xo + ((b * rows + r) * heads + h) * dim, out, r * dim, dim); r += 1 }
    out
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
    val q = input[Tensor[Float]](1).contiguous()
    val k = input[Tensor[Float]](2).contiguous()
    val v = input[Tensor[Float]](3).contiguous()
    val (qm, km, am) = masks(input)
    batch = q.size(1); steps = q.size(2); sources = k.size(2)
    val (qs, qo) = raw(q); val (ks, ko) = raw(k); val (vs, vo) = raw(v)
    val plane = steps * sources
    probabilities = new Array[Float](batch * heads * plane)
    kept = if (isTraining() && dropout > 0) new Array[Float](batch * heads * plane) else new Array[Float](0)
    output.resize(batch, steps, heads * valueDim).zero()
    val (os, oo) = raw(output)
    var b = 0
    while (b < batch) {
      val ok = allowed(b, qm, km, am)
      var h = 0
      while (h < heads) {
        val qh = head(qs, qo, b, h, steps, keyDim)
        val kh = head(ks, ko, b, h, sources, keyDim)
        val vh = head(vs, vo, b, h, sources, valueDim)
        val base = (b * heads + h) * plane
        val scores = new Array[Float](plane)
        Gemm.nt(qh, 0, kh, 0, scores, 0, steps, keyDim, sources)
        softmaxRows(scores, ok)
        val used = if (kept.isEmpty) scores else dropped(scores, base)
        System.arraycopy(scores, 0, probabilities, base, plane)
        val outHead = new Array[Float](steps * valueDim)
        Gemm.nn(used, 0, vh, 0, outHead, 0, steps, sources, valueDim)
        addHead(outHead, os, oo, b, h, steps, valueDim)
        h += 1
      }
      b += 1
    }
    output
  }

  /** In place: each row of scaled, masked scores → probabilities, max-subtracted. */
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
      var sum = 0f
      s = 0
      while (s < sources) { val e = math.exp(scores(row + s) - max).toFloat; scores(row + s) = e; sum += e; s += 1 }
      s = 0
      while (s < sources) { scores(row + s) /= sum; s += 1 }
      t += 1
    }
  }

  /** The probabilities with dropout applied; the kept/scaled factors saved for backward at `base`. */
  private def dropped(p: Array[Float], base: Int): Array[Float] = {
    val keep = (1.0 / (1.0 - dropout)).toFloat
    val out = new Array[Float](p.length)
    var i = 0
    while (i < p.length) {
      val factor = if (RandomGenerator.RNG.uniform(0, 1) >= dropout) keep else 0f
      kept(base + i) = factor
      out(i) = p(i) * factor
      i += 1
    }
    out
  }

  override def updateGradInput(input: Table, gradOutput: Tensor[Float]): Table = {
    val q = input[Tensor[Float]](1).contiguous()
    val k = input[Tensor[Float]](2).contiguous()
    val v = input[Tensor[Float]](3).contiguous()
    val dy = gradOutput.contiguous()
    val (qs, qo) = raw(q); val (ks, ko) = raw(k); val (vs, vo) = raw(v); val (ds, dOff) = raw(dy)
    val dq = Tensor[Float]().resizeAs(q).zero()
    val dk = Tensor[Float]().resizeAs(k).zero()
    val dv = Tensor[Float]().resizeAs(v).zero()
    val (dqs, dqo) = raw(dq); val (dks, dko) = raw(dk); val (dvs, dvo) = raw(dv)
    val plane = steps * sources
    var b = 0
    while (b < batch) {
      var h = 0
      while (h < heads) {
        val base = (b * heads + h) * plane
        val qh = head(qs, qo, b, h, steps, keyDim)
        val kh = head(ks, ko, b, h, sources, keyDim)
        val vh = head(vs, vo, b, h, sources, valueDim)
        val dOut = head(ds, dOff, b, h, steps, valueDim)
        val p = java.util.Arrays.copyOfRange(probabilities, base, base + plane)
        val used = if (kept.isEmpty) p else Array.tabulate(plane)(i => p(i) * kept(base + i))
        // v's gradient: usedᵀ · dOut; the probabilities': dOut · vᵀ (then through dropout).
        val dvHead = new Array[Float](sources * valueDim)
        Gemm.tn(used, 0, dOut, 0, dvHead, 0, sources, steps, valueDim)
        addHead(dvHead, dvs, dvo, b, h, sources, valueDim)
        val dp = new Array[Float](plane)
        Gemm.nt(dOut, 0, vh, 0, dp, 0, steps, valueDim, sources)
        if (kept.nonEmpty) { var i = 0; while (i < plane) { dp(i) *= kept(base + i); i += 1 } }
        // Softmax backward, scaled: dScores = p ⊙ (dp − Σ dp⊙p) / √keyDim. Masked scores were constants.
        var t = 0
        while (t < steps) {
          val row = t * sources
          var dot = 0f
          var s = 0
          while (s < sources) { dot += dp(row + s) * p(row + s); s += 1 }
          s = 0
          while (s < sources) { dp(row + s) = p(row + s) * (dp(row + s) - dot) * scale; s += 1 }
          t += 1
        }
        zeroMasked(dp, b, input)
        val dqHead = new Array[Float](steps * keyDim)
        Gemm.nn(dp, 0, kh, 0, dqHead, 0, steps, sources, keyDim)
        addHead(dqHead, dqs, dqo, b, h, steps, keyDim)
        val dkHead = new Array[Float](sources * keyDim)
        Gemm.tn(dp, 0, qh, 0, dkHead, 0, sources, steps, keyDim)
        addHead(dkHead, dks, dko, b, h, sources, keyDim)
        h += 1
      }
      b += 1
    }
    gradInput = T(dq, dk, dv)
    var i = 4
    while (i <= input.length()) { gradInput(i) = Tensor[Float]().resizeAs(input[Tensor[Float]](i)).zero(); i += 1 }
    gradInput
  }

  private def zeroMasked(dScores: Array[Float], b: Int, input: Table): Unit = {
    val (qm, km, am) = masks(input)
    if (qm.isEmpty && km.isEmpty && am.isEmpty && !causal) return
    val ok = allowed(b, qm, km, am)
    var i = 0
    while (i < ok.length) { if (!ok(i)) dScores(i) = 0f; i += 1 }
  }

  override def toString: String = s"Attention($heads heads, key $keyDim, value $valueDim${if (causal) ", causal" else ""})"
}
