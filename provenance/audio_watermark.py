"""Inaudible watermark for sound: a 48-bit id in STFT tiles (patchwork, hand-written DSP).

No pretrained watermarking model can be fetched here, so this is classic signal processing,
written in numpy/scipy for this studio (ids and readings as in provenance.watermark):

- Everything happens at an internal rate of 16 kHz in the band 500-6500 Hz, where MP3 keeps
  detail and which survives resampling down to 16 kHz. The mark is computed on a 16 kHz copy
  and only the change is resampled back and added, so nothing above 8 kHz is touched.
- The STFT (512-point Hann, hop 256) is cut into tiles of 4 frames x 500 Hz. Within a tile,
  the 16 bins form 8 groups of 2; half the groups are raised and half lowered by a fraction
  of a dB to 3 dB (patchwork): a faint, time-varying equaliser, proportional to what the host
  already has there. The embedder measures the host's own imbalance between the two halves
  and sets each tile's strength to overcome it (informed embedding), within those limits.
- One unit of 18 x 12 tiles (1.152 s) holds 72 slots: 16 fixed sync bits, the 48 bits of
  the id and its CRC-8 (a read that fails the check names no id), each slot in 3 tiles
  scattered over time and frequency, each tile with its own pseudo-random sign and halves (one
  fixed key for every studio). The unit repeats over the whole sound.
- The reader takes each tile's log ratio of raised to lowered half (a level change such as
  -6 dB cancels), squashes it to nearly a sign vote, tries every alignment of the tile grid
  (4 sub-hop steps x 4 frames x 18 columns), keeps the one where the sync bits agree best, and
  sums each slot over all units. Trimming the start only moves the alignment.
- Unmarked sound reads as unmarked: each slot's score is normalised by its own spread, so
  without a mark it is ~N(0, 1) whatever the host is, and the sync z-score must pass _SYNC_Z.

What it survives and what it does not is in the README (bench/provenance.py measures it).
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import soundfile as sf
from scipy import ndimage, signal

from pipelines.audio_decode import decode_audio
from provenance.watermark import PAYLOAD_BITS, WatermarkReading, new_watermark_id  # noqa: F401 (one id format)

SCHEME = "genmedia-studio stft patchwork v1"
# Its name in a c2pa.soft-binding assertion (entity-specific, as for the image watermark); the
# block's value is the id as 12 lowercase hex digits.
SOFT_BINDING_ALG = "com.genmedia.watermark.stft-patchwork.1"
SOFT_BINDING_PARAMS = ("audio at 16 kHz, STFT 512-point Hann hop 256, 500-6500 Hz; tiles of 4 frames x 500 Hz, "
                       "each split into two halves of 2-bin groups, one raised and one lowered; a unit of 18x12 "
                       "tiles (1.152 s) holds 16 sync bits, the 48-bit id and its CRC-8, each 3 times; "
                       "value = the 48 bits as hex")
RATE = 16000
NFFT = 512
HOP = 256
# The shortest sound that gets a mark: two units, so a reader has every bit at least twice.
MIN_SECONDS = 2.0
# Sound is read from at most this long a stretch (its start): more adds time, not certainty.
MAX_READ_SECONDS = 20.0
_LOW_HZ, _BAND_HZ, _ROWS = 500.0, 500.0, 12
_TILE_FRAMES, _COLUMNS = 4, 18
# Each tile's 16 bins form 8 groups of 2: half are raised and half lowered (patchwork), so a
# tile's mark is read as the ratio of its two halves, whatever the host's level does meanwhile.
_GROUPS = 8
_SYNC_BITS = 16
# A CRC-8 of the id rides along, so an id read with a flipped bit is caught instead of named.
_CHECK_BITS = 8
_SLOTS = _SYNC_BITS + PAYLOAD_BITS + _CHECK_BITS  # 72: each slot in 3 of the unit's 18 x 12 tiles
_SUBHOP_STEPS = 4
# Tiles in the moving average that each group's log energy is measured against (~0.6 s).
_TREND_TILES = 9
# Per-tile strength in dB: at least _MIN_DB, at most _MAX_DB, aiming for a margin of _MARGIN_DB
# in the tile's half-to-half ratio (chosen with bench/provenance.py: stronger is more robust on
# speech, weaker is quieter; see the README for the figures).
_MIN_DB, _MAX_DB, _MARGIN_DB = 0.4, 2.0, 1.5
# Slots whose z-score reads back under _STRONG_Z get their margin and ceiling raised in a second
# pass, by up to _BOOST_MAX.
_STRONG_Z, _BOOST_MAX = 3.0, 1.5
# A tile's ratio (natural log) is squashed with tanh(x / _SOFT): nearly a sign vote, so a few
# tiles where the host is lopsided (a strong harmonic in one half) cannot drown the rest.
_SOFT = 0.2
# The sync z-score a mark must reach. Unmarked sound (noise, tones, speech, music) measured at
# most ~3.5 as the best of the 288 alignments tried (a chance of ~1e-5 per file of passing 5.5
# if the 288 were independent); marked music and noise after MP3 and trimming measured >= 7.
_SYNC_Z = 5.5


def _key() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed pattern: slot of each tile, sign of each tile, which half of each tile every
    bin group belongs to (+-1), and the sync bits (+-1)."""
    rng = np.random.default_rng(0x5EED_A0D1)
    slots = rng.permutation(np.arange(_ROWS * _COLUMNS) % _SLOTS).reshape(_COLUMNS, _ROWS)
    chips = rng.choice([-1.0, 1.0], size=(_COLUMNS, _ROWS))
    halves = np.array([rng.permutation([1.0, -1.0] * (_GROUPS // 2)) for _ in range(_COLUMNS * _ROWS)])
    sync = rng.choice([-1.0, 1.0], size=_SYNC_BITS)
    return slots, chips, halves.reshape(_COLUMNS, _ROWS, _GROUPS), sync


_SLOT_OF, _CHIP, _HALF, _SYNC = _key()


def can_carry(samples: int, sample_rate: int) -> bool:
    """Whether a sound of this many samples (per channel) is long enough to carry the mark."""
    return sample_rate > 0 and samples >= MIN_SECONDS * sample_rate


def _crc8(data: bytes) -> int:
    """CRC-8 (polynomial 0x07, as in ATM HEC / SMBus): catches every 1- and 2-bit error in the id."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def _id_signs(watermark_id: str) -> np.ndarray:
    """The +-1 values of the id's slots and its check slots."""
    raw = bytes.fromhex(watermark_id)
    if len(raw) * 8 != PAYLOAD_BITS:
        raise ValueError(f"watermark id must be {PAYLOAD_BITS // 4} hex digits")
    bits = np.unpackbits(np.frombuffer(raw + bytes([_crc8(raw)]), dtype=np.uint8))
    return bits.astype(np.float64) * 2 - 1


def _resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float64)
    g = np.gcd(int(rate_in), int(rate_out))
    return signal.resample_poly(np.asarray(x, dtype=np.float64), rate_out // g, rate_in // g, axis=-1)


def _bins() -> tuple[np.ndarray, np.ndarray]:
    """STFT bin index -> tile row and bin group within the row (-1 outside the marked band)."""
    freqs = np.arange(NFFT // 2 + 1) * RATE / NFFT
    rows = np.floor((freqs - _LOW_HZ) / _BAND_HZ).astype(int)
    outside = (rows < 0) | (rows >= _ROWS)
    per_row = int(round(_BAND_HZ * NFFT / RATE))
    groups = ((np.round((freqs - _LOW_HZ) * NFFT / RATE).astype(int) % per_row) * _GROUPS) // per_row
    rows[outside], groups[outside] = -1, -1
    return rows, groups


_ROW_OF_BIN, _GROUP_OF_BIN = _bins()
_INSIDE = _ROW_OF_BIN >= 0


def _tile_strength_db(power: np.ndarray, wanted: np.ndarray, boost: np.ndarray) -> np.ndarray:
    """(tiles, rows) strength in dB for each tile so that, where the host allows, the ratio of
    its raised to its lowered half ends up with the wanted sign by a margin (informed
    embedding: the host's own imbalance is compensated instead of fighting the reader).

    `power`: (bins, frames) STFT power of the host; `wanted`: (tiles, rows, groups) +-1;
    `boost`: (tiles, rows) factor on the margin and the ceiling (1 = as designed)."""
    n_tiles = wanted.shape[0]
    frames = np.arange(min(power.shape[1], n_tiles * _TILE_FRAMES))
    cells = (frames[:, None] // _TILE_FRAMES) * (_ROWS * _GROUPS) + (
        _ROW_OF_BIN[_INSIDE] * _GROUPS + _GROUP_OF_BIN[_INSIDE])[None, :]
    energy = np.bincount(cells.ravel(), weights=power[_INSIDE][:, frames].T.ravel(),
                         minlength=n_tiles * _ROWS * _GROUPS).reshape(n_tiles, _ROWS, _GROUPS)
    # Orient every tile so that "up" is the half the mark raises: the host's ratio in that
    # direction, then the strength that moves it to the margin.
    host = _tile_ratio(energy, wanted, _floor(energy))
    nat_per_db = np.log(10) / 10  # a +-1 dB change moves the ratio of the halves' means by this much
    needed = (_MARGIN_DB * boost * nat_per_db - host) / nat_per_db
    return np.clip(needed, _MIN_DB, _MAX_DB * boost)


def _gain_db(power: np.ndarray, watermark_id: str, slot_boost: np.ndarray) -> np.ndarray:
    """(bins, frames) gain in dB that writes the id, one unit after another from frame 0;
    `slot_boost` (slots,) strengthens the tiles of slots that read back weakly."""
    n_frames = power.shape[1]
    values = np.concatenate([_SYNC, _id_signs(watermark_id)])
    unit = (_CHIP * values[_SLOT_OF])[:, :, None] * _HALF  # (columns, rows, groups)
    n_tiles = -(-n_frames // _TILE_FRAMES)
    wanted = unit[np.arange(n_tiles) % _COLUMNS]  # (tiles, rows, groups)
    boost = slot_boost[_SLOT_OF[np.arange(n_tiles) % _COLUMNS]]  # (tiles, rows)
    tiles = wanted * _tile_strength_db(power, wanted, boost)[:, :, None]
    per_frame = tiles[np.arange(n_frames) // _TILE_FRAMES]  # (frames, rows, groups)
    gain = np.zeros((NFFT // 2 + 1, n_frames))
    gain[_INSIDE] = per_frame[:, _ROW_OF_BIN[_INSIDE], _GROUP_OF_BIN[_INSIDE]].T
    return gain


def _mark_delta(mono16: np.ndarray, watermark_id: str) -> np.ndarray:
    """The change (at 16 kHz) that writes the id into one channel.

    Two passes: the mark is written, read back, and written again with the slots that read
    weakly (short sound, a host that fights the mark there) strengthened, up to _BOOST_MAX."""
    _, _, spec = signal.stft(mono16, fs=RATE, window="hann", nperseg=NFFT, noverlap=NFFT - HOP)
    power = np.abs(spec) ** 2
    boost = np.ones(_SLOTS)
    for _ in range(2):
        factor = 10.0 ** (_gain_db(power, watermark_id, boost) / 20.0) - 1.0
        _, delta = signal.istft(spec * factor, fs=RATE, window="hann", nperseg=NFFT, noverlap=NFFT - HOP)
        delta = delta[:len(mono16)]
        # Read as a reader would: from the first MAX_READ_SECONDS (a long sound costs no more).
        _, scores = _best_alignment((mono16 + delta)[:int(MAX_READ_SECONDS * RATE)])
        wanted = np.concatenate([_SYNC, _id_signs(watermark_id)])
        boost = np.clip(_STRONG_Z / np.maximum(scores * wanted, 0.5), 1.0, _BOOST_MAX)
        if np.all(boost == 1.0):
            break
    return delta


def embed(samples: np.ndarray, sample_rate: int, watermark_id: str) -> np.ndarray:
    """Return a copy of (channels, samples) float audio carrying `watermark_id`.

    Each channel gets the same pattern, so any mix of the channels carries it too. Raises
    ValueError when the sound is shorter than MIN_SECONDS (check `can_carry` first).
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("embed expects (channels, samples) audio")
    if not can_carry(x.shape[1], sample_rate):
        raise ValueError(f"sound too short to carry a watermark (under {MIN_SECONDS:g} s)")
    out = np.empty_like(x)
    for c, channel in enumerate(x):
        delta16 = _mark_delta(_resample(channel, sample_rate, RATE), watermark_id)
        delta = _resample(delta16, RATE, sample_rate)
        delta = np.pad(delta, (0, max(0, len(channel) - len(delta))))[:len(channel)]
        out[c] = channel + delta
    peak = float(np.abs(out).max())
    if peak > 1.0:  # a uniform gain keeps the mark (the reader ignores level) and avoids clipping
        out *= 0.999 / peak
    return out.astype(np.asarray(samples).dtype if np.asarray(samples).dtype.kind == "f" else np.float32)


def mark_snr_db(host: np.ndarray, marked: np.ndarray) -> float:
    """Audibility figure: host power over the power of the change, in dB."""
    host = np.asarray(host, dtype=np.float64)
    noise = np.asarray(marked, dtype=np.float64) - host
    return float(10 * np.log10(np.sum(host ** 2) / max(np.sum(noise ** 2), 1e-30)))


# ----- reading -----------------------------------------------------------------------------------

def _group_energy(mono16: np.ndarray, start: int) -> np.ndarray:
    """(frames, rows, groups) energy of each bin group, frames taken from sample `start`."""
    x = mono16[start:]
    n = 1 + (len(x) - NFFT) // HOP
    if n <= 0:
        return np.zeros((0, _ROWS, _GROUPS))
    idx = np.arange(NFFT)[None, :] + HOP * np.arange(n)[:, None]
    power = np.abs(np.fft.rfft(x[idx] * _WINDOW, axis=1)) ** 2
    cells = _ROW_OF_BIN[_INSIDE] * _GROUPS + _GROUP_OF_BIN[_INSIDE]
    energy = np.zeros((n, _ROWS * _GROUPS))
    np.add.at(energy, (slice(None), cells), power[:, _INSIDE])
    return energy.reshape(n, _ROWS, _GROUPS)


# The periodic Hann window, as scipy.signal.stft uses it.
_WINDOW = signal.get_window("hann", NFFT)


def _floor(energy: np.ndarray) -> float:
    """A floor under group energies, relative to the sound's own level (a gain changes nothing)."""
    return 1e-9 * max(float(energy.mean()), 1e-30)


def _tile_ratio(energy: np.ndarray, half: np.ndarray, floor: float) -> np.ndarray:
    """(tiles, rows) mean log energy of the raised groups minus that of the lowered ones.

    Each group's log energy is first taken relative to its own moving average over time, so the
    host's steady spectral detail (a held note, a hum) cancels, and the tile's level cancels in
    the difference; what is left is mostly the mark (whose signs vary from tile to tile)."""
    logs = np.log(energy + floor)
    logs = logs - ndimage.uniform_filter1d(logs, size=_TREND_TILES, axis=0, mode="nearest")
    per_half = _GROUPS // 2
    return (np.sum(logs * (half > 0), axis=2) - np.sum(logs * (half < 0), axis=2)) / per_half


def _slot_scores(tiles: np.ndarray, first_column: int, floor: float) -> np.ndarray:
    """Per-slot z-scores from (tiles, rows, groups) energies whose first tile is unit column
    `first_column`."""
    cols = (first_column + np.arange(tiles.shape[0])) % _COLUMNS
    x = np.tanh(_tile_ratio(tiles, _HALF[cols], floor) / _SOFT)
    slots = _SLOT_OF[cols]
    num = np.bincount(slots.ravel(), weights=(_CHIP[cols] * x).ravel(), minlength=_SLOTS)
    den = np.bincount(slots.ravel(), weights=(x ** 2).ravel(), minlength=_SLOTS)
    return np.where(den > 0, num / np.sqrt(np.maximum(den, 1e-30)), 0.0)


def _best_alignment(mono16: np.ndarray) -> tuple[float, np.ndarray]:
    """The sync z-score and slot scores at the alignment where the sync bits agree best."""
    best_sync, best = -np.inf, np.zeros(_SLOTS)
    for step in range(_SUBHOP_STEPS):
        energy = _group_energy(mono16, step * HOP // _SUBHOP_STEPS)
        if len(energy) < 3 * _TILE_FRAMES:
            continue
        floor = _floor(energy)
        csum = np.concatenate([np.zeros((1, _ROWS, _GROUPS)), np.cumsum(energy, axis=0)])
        starts = csum[_TILE_FRAMES:] - csum[:-_TILE_FRAMES]  # a tile starting at every frame
        # Offsets within a tile times every column phase cover every alignment of the unit.
        for offset in range(_TILE_FRAMES):
            tiles = starts[offset::_TILE_FRAMES]
            for phase in range(_COLUMNS):
                scores = _slot_scores(tiles, phase, floor)
                sync = float(np.dot(scores[:_SYNC_BITS], _SYNC) / np.sqrt(_SYNC_BITS))
                if sync > best_sync:
                    best_sync, best = sync, scores
    return best_sync, best


def read(samples: np.ndarray, sample_rate: int) -> WatermarkReading:
    """Read the watermark of (channels, samples) or mono float audio.

    Confidence is the sync score scaled so that 0.5 is the threshold (1.0: twice it); unmarked
    sound stays under ~0.35. Silent sound, or under MIN_SECONDS / 2, reads as absent, and so
    does a mark whose id fails its check (`read_file` says so).
    """
    bits, sync, intact = _read_payload(samples, sample_rate)
    confidence = round(float(np.clip(sync / (2 * _SYNC_Z), 0.0, 1.0)), 3)
    if bits is None or sync < _SYNC_Z or not intact:
        return WatermarkReading(None, confidence)
    return WatermarkReading(np.packbits(bits).tobytes().hex(), confidence)


def decode_bits(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray | None, float]:
    """The 48 bits (uint8 0/1) the reader decodes at its best alignment, whether or not they
    count as a mark, and the sync z-score; (None, 0.0) for silent or too short sound. For
    measuring bit accuracy (bench/provenance.py); `read` is the decision."""
    bits, sync, _ = _read_payload(samples, sample_rate)
    return bits, sync


def _read_payload(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray | None, float, bool]:
    """(id bits, sync z-score, whether the bits pass their CRC), the bits corrected when
    flipping the least certain one or two of them makes the CRC agree."""
    x = np.asarray(samples, dtype=np.float64)
    mono = x.mean(axis=0) if x.ndim == 2 else x
    if sample_rate <= 0 or len(mono) < MIN_SECONDS * sample_rate / 2 or not np.any(mono):
        return None, 0.0, False
    mono = mono[:int(MAX_READ_SECONDS * sample_rate)]
    sync, scores = _best_alignment(_resample(mono, sample_rate, RATE))
    word = scores[_SYNC_BITS:]
    bits = (word > 0).astype(np.uint8)
    weakest = np.argsort(np.abs(word))[:2]
    # Four candidates at most: a random word passes one by chance 1 time in 256, so this keeps
    # a damaged read from being "corrected" into a wrong id ~98 % of the time.
    for flips in ((), (weakest[0],), (weakest[1],), tuple(weakest)):
        candidate = bits.copy()
        candidate[list(flips)] ^= 1
        packed = np.packbits(candidate).tobytes()
        if _crc8(packed[:PAYLOAD_BITS // 8]) == packed[-1]:
            return candidate[:PAYLOAD_BITS], sync, True
    return bits[:PAYLOAD_BITS], sync, False


def mark_present(samples: np.ndarray, sample_rate: int) -> bool:
    """Whether the sync of a mark is there at all (even when its id does not read intact)."""
    return _read_payload(samples, sample_rate)[1] >= _SYNC_Z


def read_file(path: Path) -> tuple[WatermarkReading, str]:
    """Read the watermark of an audio file (WAV, FLAC, MP3 through libsndfile; anything else
    with a sound track through PyAV). Returns the reading and a note ("" when nothing to say)."""
    samples, rate = _decode(Path(path))
    if samples is None:
        return WatermarkReading(None, 0.0), "the sound could not be decoded to look for the watermark"
    bits, sync, intact = _read_payload(samples, rate)
    confidence = round(float(np.clip(sync / (2 * _SYNC_Z), 0.0, 1.0)), 3)
    if bits is not None and sync >= _SYNC_Z and intact:
        return WatermarkReading(np.packbits(bits).tobytes().hex(), confidence), ""
    if sync >= _SYNC_Z:
        return WatermarkReading(None, confidence), ("the studio's audio watermark is there, but its id did not "
                                                    "read intact (the sound was changed too much)")
    if not can_carry(samples.shape[-1], rate):
        return WatermarkReading(None, confidence), (f"too short to carry the studio's audio watermark "
                                                    f"(under {MIN_SECONDS:g} s)")
    return WatermarkReading(None, confidence), ""


def _decode(path: Path) -> tuple[np.ndarray | None, int]:
    """Mono float samples of the first MAX_READ_SECONDS and the rate, or (None, 0)."""
    try:
        with sf.SoundFile(str(path)) as f:
            rate = f.samplerate
            data = f.read(frames=int(MAX_READ_SECONDS * rate), dtype="float32", always_2d=True)
        return data.mean(axis=1), rate
    except (sf.LibsndfileError, RuntimeError, ValueError):
        pass
    try:
        sound = decode_audio(path, mono=True, max_seconds=MAX_READ_SECONDS)
    except (av.error.FFmpegError, ValueError):
        return None, 0
    if sound is None:
        return None, 0
    return (sound.samples[0] if sound.samples.size else None), sound.rate


def note_in_report(report, path: Path) -> None:
    """Verify's hook: read the audio watermark of `path` into a VerifyReport's watermark fields."""
    reading, note = read_file(path)
    report.watermark_checked = True
    report.watermark_id = reading.watermark_id
    report.watermark_confidence = reading.confidence
    report.watermark_note = note


def mark(samples: np.ndarray, sample_rate: int) -> tuple[np.ndarray, str | None, dict]:
    """Publish's step 2 for sound: (channels, samples) audio -> (audio to encode, id or None,
    the manifest's watermark record). Sound under MIN_SECONDS is left unmarked and the record
    says why; publish then confirms the mark in the encoded file (`confirm`)."""
    seconds = samples.shape[-1] / sample_rate
    info: dict = {"scheme": SCHEME, "applied": False, "duration_s": round(seconds, 3)}
    if not can_carry(samples.shape[-1], sample_rate):
        info["reason"] = f"the sound ({seconds:.2f} s) is shorter than the watermark's minimum of {MIN_SECONDS:g} s"
        return samples, None, info
    watermark_id = new_watermark_id()
    info.update(applied=True, id=watermark_id, bits=PAYLOAD_BITS)
    return embed(samples, sample_rate, watermark_id), watermark_id, info


def confirm(path: Path, info: dict, fmt: str) -> dict | None:
    """Read an encoded file back before its mark is claimed. Returns None when the file carries
    the id of `info`, else the record to sign instead (the caller then encodes the sound
    unmarked): a sound with too little between 500 and 6500 Hz (a low hum, silence), or one
    barely long enough that a lossy format loses a bit, cannot carry it."""
    if read_file(path)[0].watermark_id == info.get("id"):
        return None
    return {"scheme": SCHEME, "applied": False, "duration_s": info.get("duration_s"),
            "reason": f"the mark did not read back from the {fmt.upper()} file: the sound has too little "
                      "between 500 and 6500 Hz, or is too short for the format's loss"}
