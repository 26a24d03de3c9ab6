//! How a segment's column chunks are read: the pages the Parquet reader decodes, decompressed
//! here rather than by the reader, and dictionary pages decompressed once.
//!
//! Decompression contexts: parquet-rs sets up a zstd codec (a compression and a decompression
//! context, a few hundred KiB to allocate and clear) for every column chunk it reads, and a
//! lookup reads some twenty chunks in each segment it takes events from: that cost more than
//! the decompression itself. So the reader is told a zstd chunk is not compressed, and the
//! pages it hands over are decompressed with the calling thread's one zstd context.
//!
//! Dictionaries: a column whose values repeat (principal ids, ARNs, access key ids, session
//! dates, event names, ...) keeps each distinct value once, in the dictionary page at the start
//! of its column chunk; its data pages hold only small indexes into it. A read of a few rows
//! must have the whole dictionary, and for the identity columns of a busy segment it is the
//! larger part of what a lookup decompresses. So the store keeps decompressed dictionary pages
//! in a cache shared by all its segments, keyed by (segment id, column) and weighed by their
//! bytes; a segment is immutable, so an entry never goes stale (a deleted segment's entries
//! age out).
//!
//! [`SegmentColumns`] gives the Parquet reader the pages of one segment's column chunks: the
//! cached dictionary page first, then the data pages.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use bytes::Bytes;
use parquet::arrow::arrow_reader::RowGroups;
use parquet::basic::Compression;
use parquet::column::page::{Page, PageIterator, PageMetadata, PageReader};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};
use parquet::file::serialized_reader::SerializedPageReader;

/// Decompressed dictionary pages by (segment id, leaf column).
pub(crate) type DictionaryCache = quick_cache::sync::Cache<(u64, usize), Page, PageWeight>;

/// A cache of at most `bytes` bytes of dictionary pages.
pub(crate) fn dictionary_cache(bytes: usize) -> DictionaryCache {
    // quick_cache wants an estimate of the number of entries: pages of ~64 KiB.
    DictionaryCache::with_weighter(bytes / (64 << 10) + 1, bytes as u64, PageWeight)
}

/// A page weighs its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageWeight;

impl quick_cache::Weighter<(u64, usize), Page> for PageWeight {
    fn weight(&self, _: &(u64, usize), page: &Page) -> u64 {
        page.buffer().len() as u64 + 64
    }
}

/// The column chunks of one segment (one row group), for
/// `ParquetRecordBatchReader::try_new_with_row_groups`.
pub(crate) struct SegmentColumns<'a> {
    pub segment_id: u64,
    /// The whole Parquet file.
    pub file: &'a Bytes,
    pub metadata: &'a ParquetMetaData,
    pub cache: &'a DictionaryCache,
}

impl RowGroups for SegmentColumns<'_> {
    fn num_rows(&self) -> usize {
        self.metadata.file_metadata().num_rows() as usize
    }

    fn column_chunks(&self, column: usize) -> Result<Box<dyn PageIterator>> {
        let row_group = self.metadata.row_group(0);
        let chunk = row_group.column(column);
        let rows = row_group.num_rows() as usize;
        // Page locations let the reader skip the pages no selected row is in.
        let locations = self
            .metadata
            .offset_index()
            .and_then(|index| index.first())
            .and_then(|columns| columns.get(column))
            .map(|c| c.page_locations.clone())
            .ok_or_else(|| ParquetError::General("no offset index".to_owned()))?;
        let Some(first_data_page) = locations.first().map(|l| l.offset) else {
            return Err(ParquetError::General(
                "a column chunk without pages".to_owned(),
            ));
        };
        let file = Arc::new(self.file.clone());
        let zstd = matches!(chunk.compression(), Compression::ZSTD(_));
        // Pages as stored: `Pages` decompresses zstd ones (other codecs the reader does).
        let stored = if zstd {
            Cow::Owned(
                chunk
                    .clone()
                    .into_builder()
                    .set_compression(Compression::UNCOMPRESSED)
                    .build()?,
            )
        } else {
            Cow::Borrowed(chunk)
        };
        let (start, len) = chunk.byte_range();
        if chunk.dictionary_page_offset().is_none() || first_data_page as u64 == start {
            let data_pages = SerializedPageReader::new(file, &stored, rows, Some(locations))?;
            return Ok(Box::new(OnePageReader(Some(Box::new(Pages {
                dictionary: None,
                data_pages,
                zstd,
            })))));
        }
        let dictionary = self
            .cache
            .get_or_insert_with(&(self.segment_id, column), || {
                let mut pages = SerializedPageReader::new(
                    file.clone(),
                    &stored,
                    rows,
                    Some(locations.clone()),
                )?;
                match pages.get_next_page()? {
                    Some(page @ Page::DictionaryPage { .. }) if zstd => decompress(page),
                    Some(page @ Page::DictionaryPage { .. }) => Ok(page),
                    _ => Err(ParquetError::General(
                        "a column chunk's first page is not its dictionary".to_owned(),
                    )),
                }
            })?;
        // The same chunk without its dictionary page: from the first data page on.
        let data_only = stored
            .into_owned()
            .into_builder()
            .set_dictionary_page_offset(None)
            .set_total_compressed_size(len as i64 - (first_data_page - start as i64))
            .build()?;
        let data_pages = SerializedPageReader::new(file, &data_only, rows, Some(locations))?;
        Ok(Box::new(OnePageReader(Some(Box::new(Pages {
            dictionary: Some(dictionary),
            data_pages,
            zstd,
        })))))
    }

    fn row_groups(&self) -> Box<dyn Iterator<Item = &RowGroupMetaData> + '_> {
        Box::new(self.metadata.row_groups().iter())
    }

    fn metadata(&self) -> &ParquetMetaData {
        self.metadata
    }
}

/// The page readers of a column in a segment's one row group: one.
struct OnePageReader(Option<Box<dyn PageReader>>);

impl Iterator for OnePageReader {
    type Item = Result<Box<dyn PageReader>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.take().map(Ok)
    }
}

impl PageIterator for OnePageReader {}

/// A column chunk's pages: its dictionary page (decompressed, from the cache), then its data
/// pages, decompressed when `zstd`.
struct Pages {
    dictionary: Option<Page>,
    data_pages: SerializedPageReader<Bytes>,
    zstd: bool,
}

impl Iterator for Pages {
    type Item = Result<Page>;

    fn next(&mut self) -> Option<Self::Item> {
        self.get_next_page().transpose()
    }
}

impl PageReader for Pages {
    fn get_next_page(&mut self) -> Result<Option<Page>> {
        if let Some(page) = self.dictionary.take() {
            return Ok(Some(page));
        }
        match self.data_pages.get_next_page()? {
            Some(page) if self.zstd => decompress(page).map(Some),
            page => Ok(page),
        }
    }

    fn peek_next_page(&mut self) -> Result<Option<PageMetadata>> {
        if self.dictionary.is_some() {
            return Ok(Some(PageMetadata {
                num_rows: None,
                num_levels: None,
                is_dict: true,
            }));
        }
        self.data_pages.peek_next_page()
    }

    fn skip_next_page(&mut self) -> Result<()> {
        match self.dictionary.take() {
            Some(_) => Ok(()),
            None => self.data_pages.skip_next_page(),
        }
    }

    fn at_record_boundary(&mut self) -> Result<bool> {
        if self.dictionary.is_some() {
            return Ok(true);
        }
        self.data_pages.at_record_boundary()
    }
}

thread_local! {
    /// This thread's zstd decompression context, set up on its first page.
    static ZSTD: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// `page` with its zstd-compressed bytes decompressed, as the Parquet reader would have.
fn decompress(mut page: Page) -> Result<Page> {
    match &mut page {
        Page::DictionaryPage { buf, .. } | Page::DataPage { buf, .. } => *buf = zstd_frame(buf)?,
        // Version 2 pages keep their levels uncompressed, before the values.
        Page::DataPageV2 {
            buf,
            def_levels_byte_len,
            rep_levels_byte_len,
            is_compressed: true,
            ..
        } => {
            let levels = (*def_levels_byte_len + *rep_levels_byte_len) as usize;
            let (Some(level_bytes), Some(values)) = (buf.get(..levels), buf.get(levels..)) else {
                return Err(ParquetError::General("page levels past its end".to_owned()));
            };
            let mut whole = level_bytes.to_vec();
            whole.extend_from_slice(&zstd_frame(values)?);
            *buf = Bytes::from(whole);
        }
        Page::DataPageV2 { .. } => {}
    }
    Ok(page)
}

/// Decompresses one zstd frame with this thread's context. The frame states its size (the
/// writer of cairn's segments, parquet-rs, writes it); an empty page body stays empty.
fn zstd_frame(frame: &[u8]) -> Result<Bytes> {
    if frame.is_empty() {
        return Ok(Bytes::new());
    }
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .ok()
        .flatten()
        .ok_or_else(|| ParquetError::General("a zstd page without its size".to_owned()))?;
    ZSTD.with(|context| {
        let mut context = context.borrow_mut();
        let decompressor = match context.as_mut() {
            Some(decompressor) => decompressor,
            None => context.insert(zstd::bulk::Decompressor::new().map_err(zstd_error)?),
        };
        decompressor
            .decompress(frame, size as usize)
            .map(Bytes::from)
            .map_err(zstd_error)
    })
}

fn zstd_error(e: std::io::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}
