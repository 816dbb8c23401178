#include "decode.hpp"

#include <png.h>
#include <turbojpeg.h>

#include <cstring>
#include <memory>

#include <quarry/error.hpp>

namespace quarry::image_folder {

namespace {

void check_size(const std::string& name, std::int64_t width, std::int64_t height, std::int64_t max_pixels) {
  if (width <= 0 || height <= 0)
    throw Error(name + ": the image has no pixels (" + std::to_string(width) + "x" + std::to_string(height) + ")");
  if (width > max_pixels / height)
    throw Error(name + ": " + std::to_string(width) + "x" + std::to_string(height) + " pixels is more than the " +
                std::to_string(max_pixels) + " an image may have");
}

DecodedImage decode_jpeg(const std::string& name, const std::uint8_t* data, std::size_t size, int channels,
                         std::int64_t max_pixels) {
  std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitDecompress(), tjDestroy);
  if (!tj) throw Error(name + ": cannot start the JPEG decoder: " + std::string(tjGetErrorStr2(nullptr)));
  int width = 0, height = 0, subsamp = 0, colorspace = 0;
  auto* bytes = const_cast<unsigned char*>(data);  // TurboJPEG 2.1 takes non-const input, never writes it
  const auto jpeg_size = static_cast<unsigned long>(size);
  if (tjDecompressHeader3(tj.get(), bytes, jpeg_size, &width, &height, &subsamp, &colorspace) != 0)
    throw Error(name + ": a corrupt JPEG (its header cannot be read: " + std::string(tjGetErrorStr2(tj.get())) + ")");
  check_size(name, width, height, max_pixels);
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
    throw Error(name + ": a CMYK JPEG; convert it to RGB (e.g. with PIL: Image.open(f).convert('RGB').save(f))");
  DecodedImage img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.pixels.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * channels);
  const int format = channels == 1 ? TJPF_GRAY : TJPF_RGB;
  // A truncated or damaged file decodes "with warnings" into grey blocks: refuse it instead.
  if (tjDecompress2(tj.get(), bytes, jpeg_size, img.pixels.data(), width, 0, height, format,
                    TJFLAG_STOPONWARNING | TJFLAG_ACCURATEDCT) != 0)
    throw Error(name + ": a corrupt or truncated JPEG: " + std::string(tjGetErrorStr2(tj.get())));
  return img;
}

DecodedImage decode_png(const std::string& name, const std::uint8_t* data, std::size_t size, int channels,
                        std::int64_t max_pixels) {
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  struct Free {
    png_image* p;
    ~Free() { png_image_free(p); }
  } free_image{&image};
  if (!png_image_begin_read_from_memory(&image, data, size))
    throw Error(name + ": a corrupt PNG (its header cannot be read: " + std::string(image.message) + ")");
  check_size(name, image.width, image.height, max_pixels);
  // Palette, gray, alpha and 16-bit inputs are converted by libpng; alpha is composited
  // away (PNG_FORMAT without A drops it against the background black).
  image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  DecodedImage img;
  img.width = image.width;
  img.height = image.height;
  img.channels = channels;
  img.pixels.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, img.pixels.data(), 0, nullptr))
    throw Error(name + ": a corrupt or truncated PNG: " + std::string(image.message));
  if (PNG_IMAGE_FAILED(image)) throw Error(name + ": a damaged PNG: " + std::string(image.message));
  return img;
}

}  // namespace

ImageKind sniff(const std::uint8_t* data, std::size_t size) {
  static const std::uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff) return ImageKind::Jpeg;
  if (size >= 8 && std::memcmp(data, kPng, 8) == 0) return ImageKind::Png;
  return ImageKind::Unknown;
}

DecodedImage decode_image(const std::string& name, const std::uint8_t* data, std::size_t size, int channels,
                          std::int64_t max_pixels) {
  if (channels != 1 && channels != 3)
    throw Error(name + ": internal: channels must be 1 or 3, not " + std::to_string(channels));
  switch (sniff(data, size)) {
    case ImageKind::Jpeg: return decode_jpeg(name, data, size, channels, max_pixels);
    case ImageKind::Png: return decode_png(name, data, size, channels, max_pixels);
    case ImageKind::Unknown: break;
  }
  if (size == 0) throw Error(name + ": an empty file, not an image");
  throw Error(name + ": neither a JPEG nor a PNG file (its first bytes are not a JPEG or PNG signature)");
}

}  // namespace quarry::image_folder
