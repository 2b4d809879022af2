package bigwrap.io

import java.nio.file.{Files, Path => LocalPath}

import scala.collection.JavaConverters._

import org.apache.commons.io.FileUtils
import org.apache.hadoop.fs.Path

/**
 * The directory BigDL's TensorBoard writers (TrainSummary, ValidationSummary) get for a fit's `logDir`. They write
 * through Hadoop only to hdfs:// and with local file I/O otherwise, so for any other store (s3a://, gs://, ...)
 * they write to a local directory whose event files are uploaded to `logDir` at every epoch end and when the fit
 * ends (an object store holds each upload whole; the last one holds every event).
 */
final class EventLogDir(logDir: String) {
  private val target = Storage.resolve(logDir)
  private val staging: Option[LocalPath] =
    if (Set("file", "hdfs").contains(target.fs.getUri.getScheme)) None else Some(Files.createTempDirectory("bigwrap-events-"))

  /** What the writers are given: a local path, an hdfs:// URL, or the local staging directory. */
  val writerDir: String = staging.map(_.toString).getOrElse(target.toString)

  def upload(): Unit = staging.foreach { local =>
    val files = Files.walk(local)
    try files.iterator.asScala.filter(Files.isRegularFile(_)).foreach { file =>
      target.fs.copyFromLocalFile(false, true, new Path(file.toUri), target.child(local.relativize(file).toString).path)
    } finally files.close()
  }

  /** After the writers are closed: the last upload, then the local staging directory goes. */
  def close(): Unit = {
    upload()
    staging.foreach(dir => FileUtils.deleteQuietly(dir.toFile))
  }
}
