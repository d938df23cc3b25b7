//! Locale codes (§3 locales): the language codes Contentstack accepts for a stack's
//! languages, so that a stack perma accepts can move to Contentstack and back.
//!
//! The list is Contentstack's list of supported languages (208 codes, lower case, as its
//! CLI's export and import configuration carries it), sorted for a binary search.

/// Every code, sorted.
pub const CODES: &[&str] = &[
    "af-za", "ar", "ar-ae", "ar-bh", "ar-dz", "ar-eg", "ar-iq", "ar-jo", "ar-kw", "ar-lb", "ar-ly",
    "ar-ma", "ar-om", "ar-qa", "ar-sa", "ar-sy", "ar-tn", "ar-ye", "az", "be-by", "bg-bg", "bs",
    "ca-es", "cs", "cs-cz", "cy-az-az", "cy-sr-sp", "cy-uz-uz", "da-dk", "de", "de-at", "de-ch",
    "de-de", "de-li", "de-lu", "div-mv", "el-gr", "en", "en-at", "en-au", "en-be", "en-bz",
    "en-ca", "en-cb", "en-ch", "en-cn", "en-cz", "en-de", "en-dk", "en-do", "en-ee", "en-es",
    "en-fi", "en-fr", "en-gb", "en-gr", "en-hk", "en-hu", "en-id", "en-ie", "en-in", "en-it",
    "en-jm", "en-jp", "en-kr", "en-lt", "en-lu", "en-lv", "en-mx", "en-my", "en-nl", "en-no",
    "en-nz", "en-ph", "en-pl", "en-pr", "en-pt", "en-ru", "en-se", "en-sg", "en-si", "en-sk",
    "en-th", "en-tt", "en-us", "en-za", "en-zw", "es", "es-419", "es-ar", "es-bo", "es-cl",
    "es-co", "es-cr", "es-do", "es-ec", "es-es", "es-gt", "es-hn", "es-mx", "es-ni", "es-pa",
    "es-pe", "es-pr", "es-py", "es-sv", "es-us", "es-uy", "es-ve", "et-ee", "eu-es", "fa-ir", "fi",
    "fi-fi", "fo-fo", "fr", "fr-be", "fr-ca", "fr-ch", "fr-fr", "fr-lu", "fr-mc", "fr-us", "gd",
    "gl-es", "gu-in", "he-il", "hi-in", "hr-hr", "hu-hu", "hy-am", "id-id", "is-is", "it", "it-ch",
    "it-it", "ja", "ja-jp", "ka-ge", "kk-kz", "km-kh", "kn-in", "ko", "ko-kr", "kok-in", "ky-kz",
    "lt-az-az", "lt-lt", "lt-sr-sp", "lt-uz-uz", "lv-lv", "mk-mk", "mn-mn", "mr-in", "ms", "ms-bn",
    "ms-my", "ms-sg", "mt", "nb-no", "nl", "nl-be", "nl-nl", "nn-no", "no", "no-no", "pa-in",
    "pl-pl", "pt", "pt-br", "pt-pt", "ro-ro", "ru", "ru-kz", "ru-ru", "ru-ua", "sa-in", "sk-sk",
    "sl-si", "sq-al", "sr-me", "sv", "sv-fi", "sv-se", "sw-ke", "syr-sy", "ta-in", "te-in",
    "th-th", "tl", "tr-tr", "tt-ru", "uk-ua", "ur-pk", "uz", "vi-vn", "xh", "zh", "zh-au",
    "zh-chs", "zh-cht", "zh-cn", "zh-hk", "zh-mo", "zh-my", "zh-sg", "zh-tw", "zu",
];

/// Whether `code` is on the list (exactly: codes are lower case).
pub fn known(code: &str) -> bool {
    CODES.binary_search(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_sorted_and_whole() {
        assert!(CODES.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(CODES.len(), 208);
        for c in ["en-us", "fr-fr", "es-419", "zh-chs", "cy-az-az", "en", "zu"] {
            assert!(known(c), "{c}");
        }
        for c in ["xx-xx", "EN-US", "en_us", "", "en-", "locale-code"] {
            assert!(!known(c), "{c}");
        }
    }
}
