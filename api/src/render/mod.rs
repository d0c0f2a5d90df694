//! Pure renderers: data in, a document out, nothing looked up. They know the domain's types but
//! nothing of HTTP, GraphQL, the use cases or the store.

pub mod ical;
pub mod svg;
