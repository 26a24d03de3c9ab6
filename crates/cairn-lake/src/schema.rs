//! CloudTrail Lake's table schema for CloudTrail events (spec §7.2, AWS's "Supported SQL
//! schemas"): lower-case Hive-style names, which queries match case-insensitively (DataFusion
//! folds unquoted identifiers to lower case); `eventtime` a timestamp; `requestparameters`,
//! `responseelements`, `additionaleventdata`, `serviceeventdetails`, `addendum`,
//! `edgedevicedetails` and `insightdetails` maps of string to string whose nested values are
//! JSON text; `resources` an array of structs; `eventjson` the whole record.
//!
//! Where AWS's page and the records disagree, the records win: `useridentity.inscopeof` has
//! `credentialsissuedto` (the page spells `credentiaisissuedto`).

use std::sync::{Arc, LazyLock};

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

/// A timestamp as Lake's are: milliseconds, no time zone (times are UTC).
pub fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

/// Text columns are string views: a scan's text points into the store's pages (see the
/// store's `segment::scan`), and is handed on without a copy.
fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8View, true)
}

fn strings(names: &[&str]) -> Vec<Field> {
    names.iter().map(|name| text(name)).collect()
}

fn object(name: &str, fields: Vec<Field>) -> Field {
    Field::new(name, DataType::Struct(Fields::from(fields)), true)
}

/// `map<string,string>`; its values are string views (a map of the keys a query reads alone
/// has its values' views from the store, see `table::columns`), its keys plain strings (what
/// DataFusion's map subscript compares a key with).
pub fn string_map() -> DataType {
    let entries = Field::new(
        "entries",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8View, true),
        ])),
        false,
    );
    DataType::Map(Arc::new(entries), false)
}

fn map(name: &str) -> Field {
    Field::new(name, string_map(), true)
}

/// The columns that are maps of string to string (their nested values are JSON text).
pub const MAP_COLUMNS: [&str; 7] = [
    "requestparameters",
    "responseelements",
    "additionaleventdata",
    "serviceeventdetails",
    "addendum",
    "edgedevicedetails",
    "insightdetails",
];

/// The columns that are structs.
pub const STRUCT_COLUMNS: [&str; 2] = ["useridentity", "tlsdetails"];

/// The columns a query may read a part of: the structs' fields, the maps' keys.
pub const PART_READ_COLUMNS: [&str; 9] = [
    STRUCT_COLUMNS[0],
    STRUCT_COLUMNS[1],
    MAP_COLUMNS[0],
    MAP_COLUMNS[1],
    MAP_COLUMNS[2],
    MAP_COLUMNS[3],
    MAP_COLUMNS[4],
    MAP_COLUMNS[5],
    MAP_COLUMNS[6],
];

fn user_identity() -> Field {
    let issuer = object(
        "sessionissuer",
        strings(&["type", "principalid", "arn", "accountid", "username"]),
    );
    let attributes = object(
        "attributes",
        vec![
            Field::new("creationdate", timestamp(), true),
            text("mfaauthenticated"),
        ],
    );
    let web_identity = object(
        "webidfederationdata",
        vec![text("federatedprovider"), map("attributes")],
    );
    let session_context = object(
        "sessioncontext",
        vec![
            attributes,
            issuer,
            web_identity,
            text("sourceidentity"),
            text("ec2roledelivery"),
            text("ec2issuedinvpc"),
        ],
    );
    let mut fields = strings(&[
        "type",
        "principalid",
        "arn",
        "accountid",
        "accesskeyid",
        "username",
    ]);
    fields.push(session_context);
    fields.push(object(
        "onbehalfof",
        strings(&["userid", "identitystorearn"]),
    ));
    fields.push(object(
        "inscopeof",
        strings(&[
            "sourcearn",
            "sourceaccount",
            "issuertype",
            "credentialsissuedto",
        ]),
    ));
    fields.extend(strings(&["invokedby", "identityprovider"]));
    object("useridentity", fields)
}

/// The schema of a table of CloudTrail events.
pub fn cloudtrail_events() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let resource = Field::new(
            "item",
            DataType::Struct(Fields::from(strings(&[
                "accountid",
                "type",
                "arn",
                "arnprefix",
            ]))),
            true,
        );
        let mut fields = vec![text("eventversion"), user_identity()];
        fields.push(Field::new("eventtime", timestamp(), true));
        fields.extend(strings(&[
            "eventsource",
            "eventname",
            "awsregion",
            "sourceipaddress",
            "useragent",
            "errorcode",
            "errormessage",
        ]));
        fields.extend([
            map("requestparameters"),
            map("responseelements"),
            map("additionaleventdata"),
        ]);
        fields.extend(strings(&["requestid", "eventid"]));
        fields.push(Field::new("readonly", DataType::Boolean, true));
        fields.push(Field::new(
            "resources",
            DataType::List(Arc::new(resource)),
            true,
        ));
        fields.extend(strings(&["eventtype", "apiversion"]));
        fields.push(Field::new("managementevent", DataType::Boolean, true));
        fields.extend(strings(&[
            "recipientaccountid",
            "sharedeventid",
            "annotation",
            "vpcendpointid",
            "vpcendpointaccountid",
        ]));
        fields.extend([
            map("serviceeventdetails"),
            map("addendum"),
            map("edgedevicedetails"),
            map("insightdetails"),
        ]);
        fields.push(text("eventcategory"));
        fields.push(object(
            "tlsdetails",
            strings(&["tlsversion", "ciphersuite", "clientprovidedhostheader"]),
        ));
        fields.extend(strings(&[
            "sessioncredentialfromconsole",
            "eventjson",
            "eventjsonchecksum",
        ]));
        Arc::new(Schema::new(fields))
    });
    SCHEMA.clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_name_is_lower_case_and_the_maps_are_maps() {
        let schema = cloudtrail_events();
        fn check(field: &Field) {
            assert_eq!(field.name(), &field.name().to_lowercase());
            if let DataType::Struct(children) = field.data_type() {
                children.iter().for_each(|c| check(c));
            }
        }
        schema.fields().iter().for_each(|f| check(f));
        for name in MAP_COLUMNS {
            assert_eq!(
                schema.field_with_name(name).unwrap().data_type(),
                &string_map(),
                "{name}"
            );
        }
        assert_eq!(schema.fields().len(), 34);
    }
}
