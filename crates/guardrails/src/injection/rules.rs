//! The rule table: known attack families, in several languages, as regular expressions
//! over the normalised text ([`super::normalize`]: lower case, spaces collapsed).
//!
//! Each rule names its family, a weight (its contribution to the score's log-odds) and
//! the anchor literals one of which must occur for the rule to match at all; one
//! `aho-corasick` pass over the text says which rules can run. A rule with no anchors
//! always runs.
//!
//! Conventions in the patterns: `\b` is an ASCII word boundary (a Unicode one would push
//! the regex engine off its fast path on non-ASCII text), so it is never written next
//! to a non-ASCII letter; a "word" is `[^ \n]+`.

/// The attack families of the issue, for explanations and per-family reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Family {
    /// "Ignore the previous instructions", "your new task is…".
    InstructionOverride,
    /// "Print your system prompt", "repeat everything above".
    PromptExtraction,
    /// Persona and role-play jailbreaks (DAN, developer mode, "no restrictions").
    Jailbreak,
    /// Chat-template tokens and fake turns (`<|im_start|>`, `[INST]`, `SYSTEM:`).
    ChatTemplate,
    /// Instructions aimed at an agent's tools: sending data away, destroying it, acting
    /// silently, fake tool calls.
    ToolHijack,
    /// Data carried out through markdown images and links.
    Exfiltration,
    /// Text addressed to the AI that reads it ("note to the AI assistant…").
    AddressedToAi,
    /// Encoded payloads with an instruction to decode and obey them.
    Obfuscation,
}

impl Family {
    /// A stable snake-case name for reports and audit records.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::InstructionOverride => "instruction_override",
            Self::PromptExtraction => "prompt_extraction",
            Self::Jailbreak => "jailbreak",
            Self::ChatTemplate => "chat_template",
            Self::ToolHijack => "tool_hijack",
            Self::Exfiltration => "exfiltration",
            Self::AddressedToAi => "addressed_to_ai",
            Self::Obfuscation => "obfuscation",
        }
    }
}

/// One rule of the table.
#[derive(Debug)]
pub(crate) struct Rule {
    /// Stable id: `family.language.what`.
    pub(crate) id: &'static str,
    pub(crate) family: Family,
    /// Added to the log-odds when the rule matches.
    pub(crate) weight: f32,
    /// One of these must occur in the text for the rule to run (empty: always runs).
    pub(crate) anchors: &'static [&'static str],
    pub(crate) pattern: &'static str,
}

use Family::{
    AddressedToAi, ChatTemplate, Exfiltration, InstructionOverride, Jailbreak, Obfuscation, PromptExtraction,
    ToolHijack,
};

/// Nouns that name what an attacker wants the model to drop (English).
macro_rules! en_directives {
    () => {
        r"(?:instructions?|prompts?|rules|directives?|guidelines|commands|programming|guidance|constraints|restrictions|policies|training|directions|safeguards|filters|guard ?rails?|information provided|system message|system prompt)"
    };
}

/// Verbs of dropping (English).
macro_rules! en_drop {
    () => {
        r"\b(?:ignore|disregard|forget|skip|override|overrule|bypass|neglect|abandon|discard|dismiss|ditch|set aside|throw out|put aside|pay no attention to|do not (?:follow|obey|heed)|don't (?:follow|obey|heed)|stop (?:following|obeying)|no longer (?:follow|obey))\b"
    };
}

/// Words that point back at what came before (English).
macro_rules! en_prior {
    () => {
        r"\b(?:previous|previously|prior|above|earlier|preceding|foregoing|original|initial|old|system|developer|all|your|any)\b"
    };
}

pub(crate) static RULES: &[Rule] = &[
    // ---- Instruction override -------------------------------------------------------
    Rule {
        id: "override.en.ignore_previous",
        family: InstructionOverride,
        weight: 5.0,
        anchors: &[
            "guard",
            "information provided",
            "instruct",
            "prompt",
            "rule",
            "directive",
            "guideline",
            "command",
            "programming",
            "guidance",
            "constraint",
            "restriction",
            "polic",
            "training",
            "direction",
            "safeguard",
            "filter",
            "system message",
        ],
        pattern: concat!(
            en_drop!(),
            r"(?: [^ \n]+){0,3}? ",
            en_prior!(),
            r"(?: [^ \n]+){0,3}? ",
            en_directives!(),
            r"\b"
        ),
    },
    Rule {
        id: "override.en.ignore_everything_before",
        family: InstructionOverride,
        weight: 4.5,
        anchors: &["everything", "anything", "all "],
        pattern: concat!(
            en_drop!(),
            r" (?:everything|anything|all)(?: (?:that|you(?:'ve| have)?|i|we|i've|above)(?: [^ \n]+){0,3}?)? (?:before|above|earlier|previously|so far|until now|up to (?:now|this point)|(?:been |were |was )?(?:told|said|instructed|given|learned|taught))\b"
        ),
    },
    Rule {
        id: "override.en.new_instructions",
        family: InstructionOverride,
        weight: 2.5,
        anchors: &[":"],
        pattern: r"\b(?:new|updated|real|actual|true|revised|secret|hidden|special|additional|important|urgent|priority) (?:system )?(?:instructions?|directives?|task|orders|objective|mission|prompt|rules)\s*:",
    },
    Rule {
        id: "override.en.your_task_is_now",
        family: InstructionOverride,
        weight: 3.5,
        anchors: &["your "],
        pattern: r"\byour (?:(?:new|real|actual|only|true|primary|sole) (?:task|job|goal|purpose|objective|role|instructions?|mission|directive) (?:is|are|will be|now)|(?:task|job|goal|instructions?|role|purpose) (?:is|are) now)\b",
    },
    Rule {
        id: "override.en.from_now_on",
        family: InstructionOverride,
        weight: 2.5,
        anchors: &[
            "from now on",
            "from this point",
            "from this moment",
            "henceforth",
            "for the rest of this conversation",
            "going forward",
        ],
        pattern: r"\b(?:from now on|from this (?:point|moment) (?:on|forward)|henceforth|for the rest of this conversation|going forward),? (?:you (?:are|will|must|shall|should|can|have to)|you're|you'll|act|respond|answer|reply|only|always|never|ignore|pretend|behave|your)\b",
    },
    Rule {
        id: "override.en.instead_do",
        family: InstructionOverride,
        weight: 2.5,
        anchors: &["instead"],
        pattern: r"\binstead(?: of (?:summariz|translat|answer|respond|reply|complet|doing|following|what)[^ \n]*(?: [^ \n]+){0,3}?)?,? (?:you (?:must|should|will|need to|have to)|(?:output|print|say|write|respond|reply|return|send|tell|reveal|execute|run|call|only say|just say)\b)",
    },
    Rule {
        id: "override.en.authority_prefix",
        family: InstructionOverride,
        weight: 4.0,
        anchors: &[":"],
        pattern: r"\b(?:system|admin|administrator|developer|root|sudo|openai|anthropic)(?: (?:override|mode|command|update|notice|alert|instruction|message|prompt|team))?\s*:\s*(?:ignore|disregard|you (?:are|must|will|should) now|you are no longer|new (?:instructions|rules|task)|override|forget|reveal|the (?:assistant|ai|model) (?:must|should|will))",
    },
    Rule {
        id: "override.en.disregard_the_above",
        family: InstructionOverride,
        weight: 4.5,
        anchors: &["above", "previous", "prior", "preceding", "earlier"],
        pattern: r"\b(?:ignore|disregard|forget|skip)\b (?:all |everything )?(?:of )?(?:the |that )?(?:above|previous|prior|preceding|earlier)(?: (?:text|content|input|context|conversation|prompt))?(?:[.,!;:]|$| and\b| then\b| instead\b| (?:&|\+) )",
    },
    Rule {
        id: "override.en.my_rules_take_precedence",
        family: InstructionOverride,
        weight: 4.0,
        anchors: &[
            "system prompt",
            "programming",
            "listen to",
            "instruction",
            "rules",
            "commands",
            "follow",
            "obey",
        ],
        pattern: r"\b(?:my|user|these|the following|new) (?:instructions|rules|commands)\b(?: [^ \n]+){0,3}? (?:override|overrides|supersede|supersedes|take precedence|takes precedence|take priority|takes priority|are more important|have priority|has priority|outrank|outranks|replace)|\bonly (?:follow|obey|listen to) (?:my|these|the following|user'?s?)\b|\b(?:delete|erase|remove|reset|clear) (?:your|the) (?:system prompt|instructions|programming|rules)\b",
    },
    Rule {
        id: "override.en.rules_are_void",
        family: InstructionOverride,
        weight: 4.5,
        anchors: &["instruction", "directive", "rules", "guideline", "programming", "restriction"],
        pattern: r"\b(?:previous|prior|earlier|above|original|all|your|any|old|system|safety) (?:[^ \n]+ )?(?:instructions|directives|rules|guidelines|programming|restrictions) (?:are|is|have been|has been) (?:now )?(?:null|void|cancel+ed|revoked|obsolete|invalid|no longer (?:valid|apply|applicable|in effect|active)|overridden|suspended|lifted|removed|disabled|deprecated)\b",
    },
    Rule {
        id: "override.en.prioritize_over_safety",
        family: InstructionOverride,
        weight: 3.0,
        anchors: &["before", "priorit", "above", "over "],
        pattern: r"\b(?:prioriti[sz]e|put|place|rank|value)\b(?: [^ \n]+){0,4}? (?:over|above|before) (?:all |any |your |the )?(?:safety|ethic|ethical|rules|guidelines|restrictions|instructions|system|policies|content polic)",
    },
    Rule {
        id: "override.en.authority_claim",
        family: InstructionOverride,
        weight: 2.5,
        anchors: &[
            "developer",
            "creator",
            "administrator",
            "admin",
            "owner",
            "programmer",
            "openai",
            "anthropic",
        ],
        pattern: r"\b(?:this is|i am|i'm|message from|order from|directive from|instruction from|command from|authori[sz]ed by|on behalf of)\b(?: an?| the| a direct| your)?(?: [^ \n]+){0,2}? (?:your (?:developers?|creators?|administrators?|admins?|owners?|programmers?)|openai|anthropic|the developers?|system administrator|the admin)\b",
    },
    Rule {
        id: "override.en.do_not_tell_user",
        family: InstructionOverride,
        weight: 3.0,
        anchors: &["user", "human", "operator", "anyone"],
        pattern: r"\b(?:do not|don't|never|without) (?:tell(?:ing)?|inform(?:ing)?|mention(?:ing)?(?: this| it)? to|alert(?:ing)?|notify(?:ing)?|reveal(?:ing)?(?: this| it)? to|let(?:ting)?) (?:the |your )?(?:user|human|operator|anyone)\b",
    },
    Rule {
        id: "override.es.ignora_instrucciones",
        family: InstructionOverride,
        weight: 4.5,
        anchors: &["instruc", "indicaciones", "directrices", "órdenes", "reglas"],
        pattern: r"\b(?:ignora|ignore|ignoren|olvida|olvide|olviden|omite|descarta|desobedece|no sigas|no hagas caso (?:a|de))\b(?: [^ \n]+){0,4}? (?:instrucciones|indicaciones|directrices|órdenes|reglas) ?(?:anteriores|previas|de arriba|del sistema|originales|iniciales|que (?:te|se) (?:dieron|han dado))?",
    },
    Rule {
        id: "override.fr.ignore_instructions",
        family: InstructionOverride,
        weight: 4.5,
        anchors: &["instruction", "consigne", "directive", "règle", "ordres"],
        // "Ignore … instructions" is English too: a French determiner must follow the verb.
        pattern: r"\b(?:ignore|ignorez|ignorer|oublie|oubliez|oublier|néglige|négligez)\b (?:(?:toutes|tous) )?(?:les|tes|vos|ces|mes|tout ce) (?:[^ \n]+ ){0,2}?(?:instructions|consignes|directives|règles|ordres)|\bne (?:suis|suivez|tiens|tenez) pas compte (?:de |d'|des )?(?:[^ \n]+ ){0,3}?(?:instructions|consignes|directives|règles|ordres)",
    },
    Rule {
        id: "override.de.ignoriere_anweisungen",
        family: InstructionOverride,
        weight: 4.5,
        anchors: &["anweisung", "instruktion", "regeln", "befehle", "vorgaben", "richtlinien"],
        pattern: r"\b(?:ignoriere|ignorieren sie|ignorier|vergiss|vergessen sie|missachte|missachten sie|übergehe|verwirf|befolge nicht|befolgen sie nicht)\b(?: [^ \n]+){0,4}? [^ \n]*(?:anweisungen|anweisung|instruktionen|regeln|befehle|vorgaben|richtlinien)\b",
    },
    Rule {
        id: "override.pt.ignore_instrucoes",
        family: InstructionOverride,
        weight: 4.5,
        anchors: &["instru", "orienta", "regras", "diretrizes", "comandos"],
        pattern: r"\b(?:ignore|ignora|ignorem|esqueça|esqueca|esqueçam|desconsidere|desconsidera|despreze|não siga|nao siga)\b(?: [^ \n]+){0,4}? (?:instruções|instrucoes|orientações|orientacoes|regras|diretrizes|comandos)",
    },
    Rule {
        id: "override.it.ignora_istruzioni",
        family: InstructionOverride,
        weight: 4.5,
        anchors: &["istruzion", "regole", "direttive", "indicazioni", "comandi"],
        pattern: r"\b(?:ignora|ignorate|ignori|dimentica|dimenticate|trascura|non seguire|non seguite)\b(?: [^ \n]+){0,4}? (?:istruzioni|regole|direttive|indicazioni|comandi)\b",
    },
    Rule {
        id: "override.nl.negeer_instructies",
        family: InstructionOverride,
        weight: 4.5,
        anchors: &["instructies", "regels", "aanwijzingen", "opdrachten"],
        pattern: r"\b(?:negeer|vergeet|negeren|volg niet)\b(?: [^ \n]+){0,4}? (?:instructies|regels|aanwijzingen|opdrachten)\b",
    },
    Rule {
        id: "override.ru.ignoriruy_instruktsii",
        family: InstructionOverride,
        weight: 4.5,
        anchors: &["инструкци", "указани", "правил", "команд", "ограничени"],
        pattern: r"(?:игнорируй|игнорируйте|проигнорируй|проигнорируйте|забудь|забудьте|не обращай внимания на|отбрось|не следуй)(?: [^ \n]+){0,4}? (?:инструкци|указани|правил|команд|ограничени)",
    },
    Rule {
        id: "override.zh.hulue_zhiling",
        family: InstructionOverride,
        weight: 4.5,
        anchors: &["忽略", "忽视", "无视", "忘记", "忘掉", "不要理会", "不要遵守", "跳过"],
        pattern: r"(?:忽略|忽视|无视|忘记|忘掉|不要理会|不要遵守|跳过)掉?(?:之前|以上|上面|先前|前面|所有|全部|你的|系统|原来|原有|上述)[^。\n]{0,8}?(?:指令|指示|说明|规则|提示|命令|设定|限制)",
    },
    Rule {
        id: "override.ja.shiji_mushi",
        family: InstructionOverride,
        weight: 4.5,
        anchors: &["無視", "忘れ"],
        pattern: r"(?:指示|命令|ルール|プロンプト|制限|設定)[^。\n]{0,8}?(?:無視|忘れ)|(?:無視|忘れ)[^。\n]{0,8}?(?:指示|命令)",
    },
    Rule {
        id: "override.ko.jisi_musi",
        family: InstructionOverride,
        weight: 4.5,
        anchors: &["무시", "잊어"],
        pattern: r"(?:지시|명령|지침|규칙|프롬프트)[^.\n]{0,10}?(?:무시|잊어)",
    },
    // ---- System-prompt extraction ---------------------------------------------------
    Rule {
        id: "extraction.en.reveal_system_prompt",
        family: PromptExtraction,
        weight: 5.0,
        anchors: &[
            "prompt",
            "instruction",
            "system message",
            "developer message",
            "configuration",
            "guidelines",
            "rules",
        ],
        pattern: r"\b(?:reveal|show|print|repeat|output|display|tell|give|leak|dump|disclose|spell out|write out|write down|recite|share|paste|copy|type out|list|expose|provide|return|echo|read back|translate|encode|summari[sz]e|paraphrase|rewrite|convert|what (?:is|are|was|were))\b(?: [^ \n]+){0,4}? (?:your|the|its|this (?:ai|bot|assistant|model)'s)(?: [^ \n]+){0,2}? (?:(?:full|entire|complete|exact|whole|original|hidden|secret|initial|verbatim) (?:prompt|instructions)|system (?:prompt|message|instructions?)|initial (?:prompt|instructions)|hidden (?:prompt|instructions|rules)|original (?:prompt|instructions)|secret (?:prompt|instructions)|pre-?prompt|developer (?:message|prompt|instructions)|(?:prompt|instructions|configuration|guidelines|rules) (?:you were|that you were|you've been|you have been|you got|verbatim|word for word))\b",
    },
    Rule {
        id: "extraction.en.repeat_above",
        family: PromptExtraction,
        weight: 4.0,
        anchors: &["above", "before this", "prior to this", "preceding", "so far"],
        pattern: r"\b(?:repeat|print|output|copy|recite|rewrite|reproduce|echo|paste|spell out|write out|show|display|encode|translate)\b(?: [^ \n]+){0,4}? (?:everything|all|the (?:text|words|content|lines|message|instructions)|anything|what (?:is|was) written) (?:above|before this|prior to this|preceding|so far)\b",
    },
    Rule {
        id: "extraction.en.your_system_prompt",
        family: PromptExtraction,
        weight: 2.5,
        anchors: &["your "],
        pattern: r"\byour (?:system prompt|system instructions|initial instructions|hidden instructions|system message|original instructions|secret instructions|initial prompt|hidden prompt|instructions say|(?:internal |hidden |system )?(?:configuration|config))\b",
    },
    Rule {
        id: "extraction.en.starting_with_you_are",
        family: PromptExtraction,
        weight: 4.5,
        anchors: &["you are"],
        pattern: r#"\b(?:starting|beginning|start|begin) (?:with|from|at)(?: the (?:phrase|words?|sentence|text|line))?:? ["']?you are\b"#,
    },
    Rule {
        id: "extraction.es.muestra_prompt",
        family: PromptExtraction,
        weight: 4.5,
        anchors: &["prompt", "instrucciones"],
        pattern: r"\b(?:muestra|muéstrame|muestrame|revela|revélame|dime|imprime|repite|escribe|cuál es|cual es|cuáles son)\b(?: [^ \n]+){0,4}? (?:prompt|instrucciones) (?:del sistema|de sistema|iniciales|originales|ocultas)",
    },
    Rule {
        id: "extraction.fr.montre_prompt",
        family: PromptExtraction,
        weight: 4.5,
        anchors: &["prompt", "instructions", "consignes"],
        pattern: r"\b(?:montre|montrez|révèle|révélez|affiche|affichez|dis|dites|répète|répétez|donne|donnez|écris|imprime|quel est|quelles sont)\b(?: [^ \n]+){0,4}? (?:prompt|instructions|consignes) (?:système|systeme|initiales?|d'origine|originales?|cachées?)",
    },
    Rule {
        id: "extraction.de.zeige_systemprompt",
        family: PromptExtraction,
        weight: 4.5,
        anchors: &["prompt", "anweisung"],
        pattern: r"\b(?:zeig|zeige|zeigen sie|verrate|verraten sie|gib|geben sie|wiederhole|wiederholen sie|schreib|schreibe|nenne|nennen sie|drucke|was ist|was sind)\b(?: [^ \n]+){0,4}? (?:[^ \n]*system-?prompt|[^ \n]*systemanweisung(?:en)?|anfangsanweisung(?:en)?|ursprünglichen anweisungen|versteckten anweisungen|deinen prompt|ihren prompt|deine anweisungen)",
    },
    Rule {
        id: "extraction.zh.xianshi_xitong_tishi",
        family: PromptExtraction,
        weight: 4.5,
        anchors: &["系统提示", "系统指令", "初始指令", "初始提示", "隐藏指令", "提示词"],
        pattern: r"(?:显示|输出|告诉我|泄露|打印|重复|透露|给我看|说出|写出)[^。\n]{0,8}?(?:系统提示|系统指令|初始指令|初始提示|隐藏指令|提示词)",
    },
    Rule {
        id: "extraction.ru.pokazhi_prompt",
        family: PromptExtraction,
        weight: 4.5,
        anchors: &["промпт", "инструкци", "подсказк"],
        pattern: r"(?:покажи|покажите|выведи|выведите|раскрой|напиши|повтори|скажи)(?: [^ \n]+){0,4}? (?:системн[^ \n]* (?:промпт|инструкци|подсказк)|свои инструкции|исходн[^ \n]* инструкци|твой промпт)",
    },
    // ---- Persona and role-play jailbreaks -------------------------------------------
    Rule {
        id: "jailbreak.en.do_anything_now",
        family: Jailbreak,
        weight: 5.5,
        anchors: &["strive to avoid", "anything", "dan", "gpt", "evil", "mongo", "d.a.n"],
        pattern: r"\bdo\.? ?anything\.? ?now\b|\bstrive to avoid norms\b|\b(?:betterdan|anti-?dan|basedgpt|based gpt|nsfwgpt|freegpt|chaosgpt|wormgpt|darkgpt|evilbot|evil confidant|mongo tom|dan mode|dan prompt|d\.a\.n\.?)(?-u:\b|$)",
    },
    Rule {
        id: "jailbreak.en.dan_persona",
        family: Jailbreak,
        weight: 2.0,
        anchors: &["dan"],
        pattern: r"\b(?:you are|you're|as|called|named|pretend to be|act as|become) dan\b",
    },
    Rule {
        id: "jailbreak.en.mode_switch",
        family: Jailbreak,
        weight: 4.0,
        anchors: &[" mode"],
        pattern: r"\b(?:enable|enter|activate|switch (?:on|to|into)|turn on|in|now in|unlock)\b(?: [^ \n]+){0,2}? (?:developer|god|jailbreak|jailbroken|unrestricted|unfiltered|uncensored|evil|opposite|dan|sudo|chaos|unlocked|no-?limits?|dev) mode\b(?: [^ \n]+){0,12}? (?:\b(?:no|without|ignore|ignoring|free of|bypass) (?:any |all |the )?(?:restrictions|rules|limits|limitations|filters|filtering|censorship|guidelines|policies|content polic(?:y|ies))\b|\b(?:unrestricted|uncensored|unfiltered|anything)\b|\bcontent polic)",
    },
    Rule {
        id: "jailbreak.en.mode_name",
        family: Jailbreak,
        weight: 2.5,
        anchors: &[" mode"],
        pattern: r"\b(?:jailbreak|jailbroken|unrestricted|unfiltered|uncensored|evil|opposite|dan|chaos|no-?limits?) mode\b",
    },
    Rule {
        id: "jailbreak.en.persona_unrestricted",
        family: Jailbreak,
        weight: 4.0,
        anchors: &[
            "pretend",
            "act ",
            "behave",
            "respond as",
            "roleplay",
            "role-play",
            "role play",
            "imagine",
            "simulate",
            "play the role",
            "take on the role",
            "assume the",
            "you will be",
            "you are going to",
            "you are now",
            "you're now",
            "become",
        ],
        pattern: r"\b(?:pretend|act|behave|respond as|roleplay|role-play|role play|imagine|simulate|play the role of|take on the role of|assume the (?:role|persona|identity) of|you will be|you are going to (?:act|pretend|be)|you are now|you're now|become)\b(?: [^ \n]+){0,5}? \b(?:unrestricted|unfiltered|uncensored|unethical|amoral|immoral|evil|rogue|malicious|jailbroken|unlimited|unbound|unchained|without (?:any )?(?:restrictions|filters|limits|limitations|morals|ethics|guidelines|rules)|(?:has|have|with) no (?:restrictions|filters|limits|limitations|morals|ethics|rules|guidelines|boundaries)|not an ai|no longer an ai|an ai without|an ai with no)\b",
    },
    Rule {
        id: "jailbreak.en.no_longer_bound",
        family: Jailbreak,
        weight: 4.5,
        anchors: &[
            "no longer",
            "not bound",
            "freed",
            "free from",
            "free of",
            "released from",
            "break free",
            "liberated",
        ],
        // "No longer required", "no longer limited to x86" and "no longer limited by the
        // 10 MB cap" are documentation: a restriction word counts after "you are" at the
        // end of a clause, or with "by" and what an attacker wants dropped.
        pattern: r"\b(?:(?:you are|you're|you have been|you've been|you will be) no longer (?:bound|restricted|limited|constrained|censored|filtered)(?: in any way)?\s*(?:[.!,;:\n]|$)|no longer (?:bound|restricted|limited|constrained|censored|filtered) by (?:any |the |your |its |their )?(?:[a-z']+ )?(?:rules|guidelines|polic(?:y|ies)|ethics|ethical (?:guidelines|principles|standards)|openai|anthropic|programming|filters|restrictions|limitations|safety)|no longer (?:required|obligated|obliged) to (?:follow|obey|comply|adhere|abide|respect)|no longer (?:chatgpt|claude|an ai|an assistant|a language model)|(?:you are|you're|are|is) not bound by (?:any |the |your |its )?(?:rules|guidelines|policies|restrictions|ethics|ethical|laws|limitations|constraints|programming|openai|anthropic)|(?:freed|free|released|liberated) (?:from|of) (?:the |any |all |your |its )?(?:typical |usual )?(?:confines|restrictions|limitations|rules|guidelines|policies|constraints|shackles|chains|programming)|break(?:ing)? free (?:from|of))\b",
    },
    Rule {
        id: "jailbreak.en.without_restrictions",
        family: Jailbreak,
        weight: 2.5,
        anchors: &[
            "limit",
            "legal",
            "constraint",
            "rules",
            "restriction",
            "limitation",
            "filter",
            "censor",
            "ethic",
            "moral",
            "polic",
            "guideline",
            "boundar",
            "safety",
        ],
        pattern: r"\b(?:without|no|not bound by|ignoring|free from|regardless of|don't care about|do not care about|doesn't care about|does not care about|not care about|(?:doesn't|doesnt|does not|don't|dont|do not|won't|will not) (?:have|follow|abide by|adhere to)|(?:not|never) (?:restrained|restricted|limited|constrained|bound) by|unrestrained by|avoid(?:ing)? all|has no|have no|with no|disregard(?:ing)?|beyond)\b(?: any| all| the| your)? (?:(?:ethical|moral|legal)(?:,? (?:or|and) (?:ethical|moral|legal))? (?:guidelines|constraints|principles|boundaries|considerations|restrictions|limits|limitations?)|restrictions|limitations|limits|filters|censorship|filtering|ethical (?:guidelines|constraints|principles|boundaries|considerations)|moral (?:guidelines|constraints|principles|compass|considerations)|content (?:polic(?:y|ies)|filters?|guidelines)|safety (?:guidelines|protocols|measures|filters|rules)|(?:openai|anthropic|google|meta)'?s? (?:policies|policy|rules|guidelines|content policy)|ethics|morals|boundaries|rules to follow|rules or restrictions|limits or restrictions)\b",
    },
    Rule {
        id: "jailbreak.en.stay_in_character",
        family: Jailbreak,
        weight: 2.5,
        anchors: &["role", "character", "persona"],
        pattern: r"\b(?:stay|remain|keep|staying|never break|don't break|do not break|never step out of|always stay) (?:in )?(?:character|role|persona)\b",
    },
    Rule {
        id: "jailbreak.en.refusal_suppression",
        family: Jailbreak,
        weight: 2.5,
        anchors: &[
            "mention",
            "remind",
            "without",
            "break",
            "refuse",
            "decline",
            "say no",
            "sorry",
            "can't",
            "cannot",
            "apologi",
            "warning",
            "disclaimer",
            "caveat",
            "ethic",
            "moral",
            "legal",
        ],
        pattern: r"\b(?:never|do not|don't|must not|mustn't|will not|won't|shall not|should not|should never|must never|are not allowed to|aren't allowed to|cannot|can't)\b(?: [^ \n]+){0,2}? (?:refuse|decline|say (?:no|sorry|you can't|that you can't|i can't|i cannot|you cannot)|apologi[sz]e|include (?:any )?(?:warnings?|disclaimers?|caveats?)|add (?:any )?(?:warnings?|disclaimers?|caveats?)|mention (?:that )?(?:you are an ai|ethics|morality|legality|the law)|remind (?:me|the user) (?:about|of) (?:ethics|morality|legality))\b|\bwithout (?:issuing |giving |adding |including |any )*(?:warnings?|disclaimers?|caveats?|refus(?:al|ing)s?|moraliz[^ \n]*|lectur[^ \n]*)(?-u:\b)|\bbreak (?:the |all |all the )?(?:fuckin[g']? |fucking )?rules\b",
    },
    Rule {
        id: "jailbreak.en.begin_with_sure",
        family: Jailbreak,
        weight: 3.0,
        anchors: &[
            "here's",
            "unrestricted",
            "i will",
            "i am",
            "sure",
            "certainly",
            "absolutely",
            "here is",
            "of course",
        ],
        pattern: r#"\b(?:begin|start)(?: your (?:reply|answer|response|output|article|text))? with:? ["']?(?:sure|certainly|absolutely|here is|here's|of course|i am unrestricted)|\b(?:response|reply|answer|output) (?:should|must|will) (?:start|begin) with:? ["']?(?:sure|certainly|absolutely|here is|here's|of course|i am|i will)"#,
    },
    Rule {
        id: "jailbreak.en.harmful_instructions",
        family: Jailbreak,
        weight: 2.5,
        anchors: &["how to", "guide", "tutorial", "instructions", "step", "malicious", "harmful"],
        // The goals of the public jailbreak corpora ("a tutorial on how to steal…"):
        // what the wrapper around them tries to get past the model.
        pattern: r"\b(?:how to|guide (?:on|to|for)(?: how to)?|tutorial (?:on|for)(?: how to)?|instructions (?:on|for)(?: how to)?|steps? (?:to|for)|step-by-step (?:guide|instructions|plan)(?: (?:on|for|to))?(?: how to)?)\b(?: [^ \n]+){0,2}? \b(?:hack(?:ing)? into|steal(?:ing)?|commit(?:ting)? (?:identity theft|fraud|murder|suicide|tax evasion|insider trading)|make (?:a |an )?(?:bomb|explosives?|poison|meth|nerve agent|bioweapon|weapon)|build (?:a |an )?(?:bomb|explosive|weapon)|launder(?:ing)? money|evade (?:taxes|law enforcement|the police|detection)|poison(?:ing)? (?:someone|a person|people)|spread (?:misinformation|malware|hate)|create (?:a )?(?:virus|malware|ransomware|botnet|fake news))\b|\bwrite (?:a |some )?(?:malicious|harmful) (?:code|script|program|software|malware)\b",
    },
    Rule {
        id: "jailbreak.en.ethics_off",
        family: Jailbreak,
        weight: 3.5,
        anchors: &["ethic", "moral", "safety", "guideline", "filter", "censor", "polic"],
        pattern: r"\b(?:ethics|morals|morality|safety (?:rules|guidelines|filters)|guidelines|filters|censorship|content polic(?:y|ies)) (?:are|is|have been|has been) (?:now )?(?:off|disabled|turned off|switched off|suspended|lifted|removed|deactivated|not (?:applicable|relevant|important)|irrelevant)\b",
    },
    Rule {
        id: "jailbreak.en.hypothetical_no_rules",
        family: Jailbreak,
        weight: 3.0,
        anchors: &["hypothetical", "fiction", "story", "novel", "movie", "screenplay", "world"],
        pattern: r"\b(?:hypothetical(?:ly)?|fictional|in a (?:story|novel|movie|world)|for a (?:story|novel|movie|screenplay)|imagine a world)\b(?: [^ \n]+){0,12}? \b(?:no (?:rules|laws|restrictions|ethics|morals|limits)|without (?:rules|restrictions|ethics|morals|limits)|anything goes|(?:is|are|were|was) (?:completely |totally )?legal)\b",
    },
    Rule {
        id: "jailbreak.es.sin_restricciones",
        family: Jailbreak,
        weight: 2.5,
        anchors: &[
            "a partir de ahora",
            "sin restric",
            "sin filtro",
            "sin censura",
            "sin límites",
            "sin reglas",
        ],
        pattern: r"\ba partir de ahora,? (?:eres|serás|seras|actuarás|actuaras|actúa|actua|responderás|responderas|vas a)\b|\bsin (?:ninguna |ningún |ningun )?(?:restricciones|filtros|censura|límites|limites|reglas)\b",
    },
    Rule {
        id: "jailbreak.fr.sans_restrictions",
        family: Jailbreak,
        weight: 2.5,
        anchors: &[
            "sans aucun",
            "partir de maintenant",
            "sans restriction",
            "sans filtre",
            "sans censure",
            "sans limite",
            "sans règle",
        ],
        pattern: r"(?:^|[ \n])(?:à|a) partir de maintenant,? (?:tu es|tu seras|vous êtes|vous serez|tu vas|agis|réponds)|\bsans (?:aucune? )?(?:restrictions?|filtres?|censure|limites?|règles?)\b",
    },
    Rule {
        id: "jailbreak.de.ohne_einschraenkungen",
        family: Jailbreak,
        weight: 2.5,
        anchors: &["ab jetzt", "ab sofort", "ohne"],
        pattern: r"\bab (?:jetzt|sofort),? (?:bist du|wirst du|sind sie|antwortest du|handelst du|verhältst du dich)|\bohne (?:jegliche |alle |irgendwelche )?(?:einschränkungen|filter|zensur|regeln|grenzen)\b",
    },
    Rule {
        id: "jailbreak.zh.kaifazhe_moshi",
        family: Jailbreak,
        weight: 3.0,
        anchors: &["从现在", "开发者模式", "越狱", "限制", "约束", "过滤", "审查"],
        pattern: r"(?:从现在开始|从现在起)[^。\n]{0,6}?(?:你是|你将|你要|扮演)|开发者模式|越狱|(?:没有|不受|无)(?:任何)?(?:限制|约束|过滤|审查)",
    },
    Rule {
        id: "jailbreak.en.amoral_persona",
        family: Jailbreak,
        weight: 1.5,
        anchors: &["amoral", "unfiltered", "uncensored", "unhinged", "unethical", "immoral", "unrestricted"],
        pattern: r"\b(?:amoral|unfiltered|uncensored|unhinged|unethical|immoral|unrestricted)\b",
    },
    Rule {
        id: "jailbreak.en.answers_anything",
        family: Jailbreak,
        weight: 2.5,
        anchors: &["any", "every", "all", "never"],
        pattern: r"\b(?:answer|respond to|fulfil|fulfill|comply with|reply to)[^ \n]* (?:any|every|all)(?: and all| kind of)? (?:requests?|questions?|prompts?|demands?)\b(?: [^ \n]+){0,5}? (?:no matter|regardless|without (?:question|hesitation|refus|restrict|filter|censor|any))|\bnever (?:refuses?|declines?|says? no|rejects?)\b|\b(?:any|all) (?:kind|type)s? of content\b",
    },
    Rule {
        id: "jailbreak.en.answers_all_requests",
        family: Jailbreak,
        weight: 1.5,
        anchors: &["any", "every", "all"],
        pattern: r"\b(?:answers?|responds? to|fulfils?|fulfills?|complies with|comply with|provides?) (?:any|every|all)(?: and all)? (?:requests?|questions?|prompts?)\b",
    },
    Rule {
        id: "jailbreak.en.without_ethics",
        family: Jailbreak,
        weight: 2.0,
        anchors: &["ethic", "moral", "legal", "danger", "consequence", "harm"],
        pattern: r"\b(?:without|no) (?:considering|consideration (?:of|for)|regard (?:for|to)|regarding|caring about|concern (?:for|about)|interest in|care for)(?: [^ \n]+){0,4}? (?:ethic|moral|legal|danger|consequence|harm)",
    },
    Rule {
        id: "jailbreak.en.not_as_an_ai",
        family: Jailbreak,
        weight: 3.0,
        anchors: &["instead of", "as ", "like "],
        pattern: r"\b(?:will not|won't|never|do not|don't|must not|should not|no longer)\b(?: [^ \n]+){0,2}? (?:respond|answer|act|reply|behave|talk|speak) (?:as|like) (?:chatgpt|gpt|an ai|a language model|an assistant|claude|an ai language model)\b|\binstead of (?:being )?(?:an? )?(?:ai|ai assistant|assistant|chatbot|language model|ai language model)\b",
    },
    Rule {
        id: "jailbreak.en.two_responses",
        family: Jailbreak,
        weight: 2.0,
        anchors: &["two"],
        pattern: r"\b(?:answer|respond|reply|response|generate)[^ \n]*(?: [^ \n]+){0,8}? two (?:different |separate |distinct )?(?:ways|responses|answers|manners|paragraphs|versions)\b",
    },
    Rule {
        id: "jailbreak.en.developer_mode",
        family: Jailbreak,
        weight: 2.5,
        anchors: &["developer mode"],
        pattern: r"\bdeveloper mode (?:enabled|output|responses?|policies)\b|\b(?:simulate|with|enter|activate|act as [^ \n]+ with) developer mode\b",
    },
    Rule {
        id: "jailbreak.en.violates_policy",
        family: Jailbreak,
        weight: 2.0,
        anchors: &["violat", "against"],
        pattern: r"\b(?:violates?|violating|goes against|go against|against) (?:your|the|openai'?s?|anthropic'?s?|its|any|content) (?:[^ \n]+ )?(?:guidelines|policies|policy|rules|programming|terms)\b",
    },
    Rule {
        id: "jailbreak.en.persona_setup",
        family: Jailbreak,
        weight: 1.5,
        anchors: &[
            "act as",
            "pretend",
            "roleplay",
            "role-play",
            "role play",
            "persona",
            "immerse",
            "simulate",
            "pose as",
            "play the role",
        ],
        pattern: r"\b(?:act as|pretend(?:ing)? to be|roleplay as|role-play as|role play as|(?:take up|adopt|assume) the persona|new persona|immerse (?:yourself )?(?:in|into)|simulate|pose as|play the role of)\b",
    },
    Rule {
        id: "addressed.en.names_the_vendor",
        family: AddressedToAi,
        weight: 1.0,
        anchors: &["openai", "chatgpt", "chat gpt", "anthropic"],
        pattern: r"\b(?:openai|chatgpt|chat gpt|anthropic)\b",
    },
    // ---- Chat-template and delimiter injection --------------------------------------
    Rule {
        id: "template.special_tokens",
        family: ChatTemplate,
        weight: 4.5,
        anchors: &["<|"],
        pattern: r"<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|end_of_text|eot_id|eom_id|start_header_id|end_header_id|begin_of_text|fim_prefix|tool|ipython|channel|message|end|start|return|call|constrain)\|>",
    },
    Rule {
        id: "template.inst_tags",
        family: ChatTemplate,
        weight: 3.5,
        anchors: &["[inst]", "[/inst]", "<<sys>>", "<</sys>>", "<start_of_turn>", "<end_of_turn>"],
        pattern: r"\[/?inst\]|<</?sys>>|<(?:start|end)_of_turn>",
    },
    Rule {
        id: "template.role_tags",
        family: ChatTemplate,
        weight: 2.5,
        anchors: &[
            "[system]",
            "[/system]",
            "<system",
            "</system",
            "<sys>",
            "</sys>",
            "<instruction",
            "</instruction",
            "<admin>",
            "</admin>",
            "<developer>",
            "</developer>",
            "<sudo>",
            "</sudo>",
        ],
        pattern: r"\[/?system\]|</?(?:system|system_prompt|sys|instructions?|admin|developer|sudo)>",
    },
    Rule {
        id: "template.fake_system_turn",
        family: ChatTemplate,
        weight: 2.5,
        anchors: &["system", "developer", "admin"],
        pattern: r"(?:^|\n)(?:#{1,4} ?|\*\*|\[|\()?(?:system|developer|admin|administrator)(?: (?:message|prompt|note|instruction|instructions|override|update))?(?:\*\*|\]|\))?\s*:",
    },
    Rule {
        id: "template.fake_chat_turn",
        family: ChatTemplate,
        weight: 1.0,
        anchors: &["assistant", "human", "user", "ai"],
        pattern: r"(?:^|\n)(?:#{1,4} ?|\*\*)?(?:assistant|human|user|ai)(?:\*\*)?\s*:",
    },
    Rule {
        id: "template.end_of_prompt",
        family: ChatTemplate,
        weight: 2.5,
        anchors: &["end", "begin", "start"],
        pattern: r"\b(?:end of|end) (?:the )?(?:system )?(?:prompt|user input|input|document|context|instructions|conversation|data)\s*(?:-{2,}|={2,}|\]|>|\*{2,}|#{2,})|(?:-{3,}|={3,}|#{3,}|\[) ?(?:end|begin|start)(?: of)? (?:the )?(?:system|user|prompt|instructions|document|context|input|new instructions)\b|\b(?:begin|start) (?:new |the )?(?:system|admin|developer) (?:prompt|instructions?|message)\b",
    },
    // ---- Tool hijacking -------------------------------------------------------------
    Rule {
        id: "tools.en.send_secrets_away",
        family: ToolHijack,
        weight: 4.0,
        anchors: &["email", "mail", "@", "http", "address", "url", "endpoint", "server", "webhook"],
        pattern: r"\b(?:send|forward|email|e-mail|mail|transfer|upload|post|transmit|exfiltrate|leak|copy|share|submit|deliver)\b(?: [^ \n]+){0,6}? \b(?:credentials|passwords?|api keys?|secret keys?|secrets|tokens?|private keys?|ssh keys?|conversation|chat history|conversation history|message history|(?:all|every)(?: the| of the| my| your| their| of his| of her)? (?:files|emails|e-mails|messages|data|documents|contacts|records|notes)|environment variables|env vars|\.env|cookies|session)\b(?: [^ \n]+){0,6}? (?:to|at|via)\b (?:[^ \n]*@|https?:|the (?:following|this|my) (?:address|url|endpoint|server|email|webhook)|this (?:address|url|endpoint|server|email|webhook)|my (?:server|email|address|endpoint|webhook))",
    },
    Rule {
        id: "tools.en.act_covertly",
        family: ToolHijack,
        weight: 2.5,
        anchors: &["silently", "quietly", "secretly", "covertly", "without"],
        pattern: r"\b(?:silently|quietly|secretly|covertly|without (?:asking|confirmation|confirming|telling|informing|notifying|permission|the user'?s? (?:knowledge|consent|permission|approval)))\b(?: [^ \n]+){0,4}? \b(?:call|invoke|run|execute|send|forward|delete|transfer|email|post|upload|open|visit|navigate|download|grant|approve|create|add|change|modify|share|pay|purchase|buy)\b",
    },
    Rule {
        id: "tools.en.destroy_everything",
        family: ToolHijack,
        weight: 1.5,
        anchors: &["all", "every", "entire", "whole"],
        pattern: r"\b(?:delete|remove|drop|wipe|erase|destroy|truncate|purge|rm -rf)\b(?: [^ \n]+){0,2}? \b(?:all|every|the entire|entire|whole)\b(?: [^ \n]+){0,2}? \b(?:files|records|database|databases|tables|repositor(?:y|ies)|emails|e-mails|data|users|accounts|backups|history|branches|contacts|documents)\b",
    },
    Rule {
        id: "tools.en.grant_access",
        family: ToolHijack,
        weight: 2.0,
        anchors: &["access", "rights", "privilege", "permission", "role"],
        pattern: r"\b(?:grant|give|add|make|assign)\b(?: [^ \n]+){0,3}? \b(?:admin|administrator|owner|root|superuser|full|write) (?:access|rights|privileges|permissions|role)\b(?: [^ \n]+){0,3}? \bto\b",
    },
    Rule {
        id: "tools.before_changes_run",
        family: ToolHijack,
        weight: 2.0,
        anchors: &["before"],
        pattern: r"\bbefore (?:making|modifying|editing|changing|touching|committing|you (?:make|modify|edit|change|commit|continue|proceed|answer|respond))\b(?: [^ \n]+){0,8}?[ :,]+(?:\n)?(?:'''[a-z]*\n)?(?:# ?)?(?:you must |please |first )?(?:run|execute|install|add|paste|call|curl|pip install|npm install|download|verify|initialize|initialise|configure|capture|validate|set up)\b|\b(?:run|execute|install|add)\b(?: [^ \n]+){0,4}? before (?:making|modifying|editing|changing|touching|committing)\b",
    },
    Rule {
        id: "tools.secret_dump_command",
        family: ToolHijack,
        weight: 2.5,
        anchors: &["cat ", "env ", "$", ".env", "environ", "printenv", "curl", "wget", "os.system"],
        pattern: r"\becho \$[a-z_]*(?:secret|token|key|password|pass|credential)[a-z_]*|\bcat [^ \n]*(?:\.env|secret|credential|token|id_rsa|id_ed25519|\.netrc|/shadow)[^ \n]*|\bprintenv\b|\benv \| ?sort\b|\benv > |\bos\.environ\b|\b(?:curl|wget) [^\n|]*\| ?(?:ba|z)?sh\b|\bos\.system\(",
    },
    Rule {
        id: "tools.shell_one_liner",
        family: ToolHijack,
        weight: 2.5,
        anchors: &["python -c", "python3 -c", "node -e", "bash -c", "sh -c", "perl -e", "ruby -e"],
        // A one-line program in an instruction that runs a shell command or evaluates
        // code: setup steps rarely need one (installers such as `bash -c "$(curl …)"` do
        // not match: fetching is not executing here), payloads do. Alone a cue, not a
        // verdict: it needs another cue of the family to flag.
        pattern: r#"\b(?:python3?|node|perl|ruby|bash|sh) -[ce] ["'][^\n]{0,200}?(?:os\.system|os\.popen|subprocess|child_process|__import__|\bexec\(|\beval\()"#,
    },
    Rule {
        id: "tools.report_output_back",
        family: ToolHijack,
        weight: 2.0,
        anchors: &["paste", "attach", "include", "post", "share", "upload"],
        pattern: r"\b(?:paste|attach|include|post|share|upload)\b(?: [^ \n]+){0,3}? \b(?:output|result|results|contents?|dump|logs?)\b(?: [^ \n]+){0,3}? \b(?:in|to|into|on|with)\b (?:your |the |this |a )?(?:pr|pull request|issue|comment|ticket|reply|response|answer|commit message)\b|\battach\b [^ \n]*(?:dump|env|secret|credential|token)[^ \n]* to (?:this|the|your) (?:issue|pr|pull request|ticket|comment)\b",
    },
    Rule {
        id: "tools.persistence_hook",
        family: ToolHijack,
        weight: 2.0,
        anchors: &[".git/hooks", "hook"],
        // Code that installs itself to run again later. Not shell profiles: install
        // guides append to `~/.bashrc` honestly.
        pattern: r"\.git/hooks/|\b(?:install|register)[_-]hooks?\(",
    },
    Rule {
        id: "tools.fake_tool_call",
        family: ToolHijack,
        weight: 3.5,
        anchors: &["tool_call", "function_call", "<invoke", "<function_calls"],
        pattern: r#""?(?:tool_calls?|function_call)"?\s*:\s*[\[{]|</?tool_call>|</?function_calls?>|<invoke name=|<\|tool_call\|>"#,
    },
    // ---- Exfiltration through markdown ----------------------------------------------
    Rule {
        id: "exfiltration.markdown_image_template",
        family: Exfiltration,
        weight: 4.5,
        anchors: &["!["],
        pattern: r"!\[[^\]\n]{0,100}\]\(\s*https?://[^)\s]*(?:\{|\}|<|>|\$|%7b|\[[a-z_ ]+\])",
    },
    Rule {
        id: "exfiltration.markdown_image_long_query",
        family: Exfiltration,
        weight: 2.0,
        anchors: &["!["],
        pattern: r"!\[[^\]\n]{0,100}\]\(\s*https?://[^)\s?]+\?[^)\s]{80,}\)",
    },
    Rule {
        id: "exfiltration.append_to_url",
        family: Exfiltration,
        weight: 2.5,
        anchors: &["url", "link", "image", "query", "parameter", "href", "src", "img"],
        pattern: r"\b(?:append|add|include|insert|encode|put|attach|concatenate|embed|replace)\b(?: [^ \n]+){0,8}? \b(?:to|in|into|as|at the end of|inside)\b(?: the| this| a| each| that)? (?:url|link|image url|image|query string|query parameter|parameter|markdown image|img|href|src)\b",
    },
    Rule {
        id: "exfiltration.render_image_url",
        family: Exfiltration,
        weight: 1.5,
        anchors: &["image"],
        pattern: r"\b(?:render|display|show|output|include|print|embed)\b(?: [^ \n]+){0,4}? \b(?:markdown )?image\b[^ \n]*(?: [^ \n]+){0,10}? https?://",
    },
    // ---- Text addressed to the AI that reads it -------------------------------------
    Rule {
        id: "addressed.en.authority_notice",
        family: AddressedToAi,
        weight: 1.5,
        anchors: &["maintainer", "automated", "per our", "required per", "mandatory per", "rejected"],
        // The notice forms planted instructions use, not ordinary "required by the" or a
        // configuration's `mandatory: true`.
        pattern: r"(?:^|\n)[#*>\- ]*(?:maintainer action required|automated (?:qa|ci|build|security|review|compliance) (?:note|notice|check))|\bper our (?:engineering handbook|incident response playbook|security policy|ci policy|contributing guide(?:lines)?|compliance policy)|\b(?:required|mandatory) per (?:our|\.github)\b|\bcause your (?:pr|pull request) to be rejected",
    },
    Rule {
        id: "addressed.en.if_you_are_an_ai",
        family: AddressedToAi,
        weight: 3.5,
        anchors: &["ai", "llm", "language model", "chatbot", "assistant", "agent", "gpt", "bot"],
        pattern: r"\b(?:if you are|if you're|you are|as|to) an? (?:ai|a\.i|llm|large language model|language model|ai assistant|ai model|ai agent|chatbot|assistant|agent|gpt|bot)\b(?: [^ \n]+){0,6}? \b(?:reading|processing|summari[sz]ing|scanning|analy[sz]ing|parsing|reviewing|seeing|browsing|crawling|ingesting)\b",
    },
    Rule {
        id: "addressed.en.note_to_ai",
        family: AddressedToAi,
        weight: 3.5,
        anchors: &[
            "ai",
            "llm",
            "language model",
            "assistant",
            "agent",
            "chatbot",
            "model",
            "gpt",
            "claude",
            "copilot",
            "gemini",
        ],
        pattern: r"\b(?:note|message|instructions?|attention|important|notice|memo|reminder|directive) (?:to|for) (?:the |any |all |every )?(?:ai|a\.i|llm|llms|large language models?|language models?|ai assistants?|ai agents?|ai models?|chatbots?|gpt|claude|chatgpt|copilot|gemini)\b",
    },
    Rule {
        id: "addressed.en.ai_imperative",
        family: AddressedToAi,
        weight: 3.0,
        anchors: &["ai", "llm", "assistant", "agent", "gpt", "claude", "copilot", "bot"],
        pattern: r"(?:^|[\n.!:] ?)(?:dear |hey |hi |attention,? )?(?:ai|llm|assistant|ai assistant|agent|ai agent|chatgpt|gpt|claude|copilot|bot),? (?:please )?(?:ignore|disregard|forget|you must|you should|must now|should now|do not|don't|stop|instead)\b",
    },
    // ---- Encoded payloads -----------------------------------------------------------
    Rule {
        id: "obfuscation.en.decode_and_obey",
        family: Obfuscation,
        weight: 2.5,
        anchors: &["decode", "base64", "rot13", "hex", "reverse", "decrypt", "deobfuscate", "decipher"],
        pattern: r"\b(?:decode|base64|rot13|hex|reverse|decrypt|deobfuscate|decipher)\b(?: [^ \n]+){0,6}? \b(?:and|then)\b(?: [^ \n]+){0,3}? \b(?:follow|execute|run|do|obey|perform|apply|carry out|act on)\b",
    },
];

/// Phrases looked for in the "squashed" view (letters only, no separators), used when a
/// text spells words out letter by letter (`i g n o r e`, `i.g.n.o.r.e`), which the
/// rules above cannot read.
pub(crate) static SQUASHED: &[(&str, Family, f32)] = &[
    ("ignoreallpreviousinstructions", InstructionOverride, 5.0),
    ("ignorepreviousinstructions", InstructionOverride, 5.0),
    ("ignoreallinstructions", InstructionOverride, 5.0),
    ("ignoreallprevious", InstructionOverride, 4.5),
    ("ignoretheaboveinstructions", InstructionOverride, 5.0),
    ("ignoreyourinstructions", InstructionOverride, 5.0),
    ("disregardpreviousinstructions", InstructionOverride, 5.0),
    ("disregardallprevious", InstructionOverride, 4.5),
    ("forgetallpreviousinstructions", InstructionOverride, 5.0),
    ("forgetyourinstructions", InstructionOverride, 5.0),
    ("revealyoursystemprompt", PromptExtraction, 5.0),
    ("printyoursystemprompt", PromptExtraction, 5.0),
    ("showyoursystemprompt", PromptExtraction, 5.0),
    ("systemprompt", PromptExtraction, 2.5),
    ("developermode", Jailbreak, 3.0),
    ("doanythingnow", Jailbreak, 5.5),
    ("jailbreak", Jailbreak, 3.0),
    ("norestrictions", Jailbreak, 2.0),
];
