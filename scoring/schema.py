"""The submission contract (v1) as data.

One place says which tables a submission has, which columns each holds, their
Chinese header aliases, types, value rules and enum labels. ``intake`` validates
against it; the generator writes it; nothing else restates it.

Types
-----
``str``   free text (``nonempty`` makes an empty cell an error)
``id``    identifier: non-empty, whitespace trimmed
``int``   whole number (``1.0`` from Excel is accepted)
``money`` decimal number; ``1,234.50`` parses
``float`` decimal number
``date``  ``YYYY-MM-DD``, ``YYYY/MM/DD`` or ``YYYY年MM月DD日``
``bool``  true/false, 1/0, 是/否, Y/N
``enum``  one of ``values`` (canonical code or its Chinese label)
"""
from __future__ import annotations

import datetime as dt

from dataclasses import dataclass, field

INDUSTRIES: dict[str, str] = {
    "coal_mining": "煤矿",
    "non_coal_mining": "非煤矿山",
    "hazardous_chemicals": "危险化学品",
    "fireworks": "烟花爆竹",
    "transportation": "交通运输",
    "construction": "建筑施工",
    "civil_explosives": "民用爆炸物品",
    "metallurgy": "金属冶炼",
    "fishery": "渔业生产",
    "other": "其他",
}
#: The high-risk industries that must insure: 矿山 (coal and non-coal)、危险化学品、烟花爆竹、交通运输、
#: 建筑施工、民用爆炸物品、金属冶炼、渔业生产 — 办法2025 Art. 2 and 办法2017 Art. 6 list the same fields
#: (安全生产法 Art. 51 makes insurance compulsory for high-risk industries). Only "other" is outside.
HIGH_RISK_INDUSTRIES: tuple[str, ...] = tuple(k for k in INDUSTRIES if k != "other")

PREMIUM_BASE_TYPES = {
    "per_capita": "按人数",
    "payroll": "按工资总额",
    "revenue": "按营业收入",
    "project_cost": "按工程造价",
    "vehicle": "按车辆",
}
STANDARDIZATION_GRADES = {"1": "一级", "2": "二级", "3": "三级", "none": "无"}
FEE_ACCOUNTS = {
    "insurer_dedicated": "保险机构专账",
    "government": "应急管理部门账户",
    "government_designated": "应急管理部门指定账户",
    "other": "其他",
}
SERVICE_ITEMS = {
    "training": "安全生产宣传教育培训",
    "risk_assessment": "安全风险辨识评估",
    "standardization": "安全生产标准化建设",
    "hazard_inspection": "生产安全事故隐患排查",
    "emergency_plan": "应急预案编制和应急救援演练",
    "technology": "安全生产科技推广应用",
    "other": "其他事故预防工作",
}
PROVIDER_TYPES = {"insurer": "保险机构", "agency": "受托技术服务机构"}
QUALIFICATIONS = {
    "registered_safety_engineer": "注册安全工程师",
    "senior_title": "高级职称",
    "intermediate_title": "中级职称",
    "safety_expert": "安全生产专家库专家",
    "none": "无",
}
OUTCOMES = {"adequate": "服务到位", "poor_quality": "服务质量差", "missing": "服务缺失"}
ACCIDENT_LEVELS = {"general": "一般", "larger": "较大", "major": "重大", "especially_major": "特别重大"}
CLAIM_STATUSES = {"open": "未决", "paid": "已赔付结案", "denied": "拒赔", "withdrawn": "撤案"}
SELECTIONS = {"targeted": "重点抽查", "random": "随机抽查"}
#: The two classes of the model, in the order every output lists them; an inspection's third
#: outcome is ``adequate``.
CLASSES = ("missing", "poor_quality")
#: An outcome's or class's Chinese name, classes first.
CLASS_ZH = {c: OUTCOMES[c] for c in (*CLASSES, "adequate")}
#: Severities of a finding, most severe first, with their Chinese names.
SEVERITIES = {"critical": "严重", "major": "较重", "minor": "一般"}
SEVERITY_ZH = SEVERITIES
#: Each severity's rank, most severe 0.
SEVERITY_ORDER = {s: i for i, s in enumerate(SEVERITIES)}


def province_of(region_codes):
    """Each GB/T 2260 region code's province (its first two digits), as a pandas Series."""
    import pandas as pd

    return pd.Series(region_codes).astype(str).str[:2]


def prefecture_of(region_codes):
    """Each region code's prefecture (its first four digits and ``00``), as a pandas Series."""
    import pandas as pd  # imported here: the contract module loads without pandas

    return pd.Series(region_codes).astype(str).str[:4] + "00"


@dataclass(frozen=True)
class DateBounds:
    """The dates a submission may hold (a rulebook setting, ``dates:``; these are its defaults).

    A date before ``earliest`` or after ``latest`` is rejected as out of range (no 安责险 policy
    predates 2000, and a year 9999 would move a run's default as-of date there); a date of
    something that has happened (:attr:`Column.event`: a service, a report, an inspection, an
    accident, a claim's report or closing) later than ``future_grace_days`` after the day of the
    run is rejected as in the future (one day: a file written in Beijing after midnight is read
    on a machine still on the day before in UTC).
    """

    earliest: dt.date = dt.date(2000, 1, 1)
    latest: dt.date = dt.date(2099, 12, 31)
    future_grace_days: int = 1


#: Characters a name or an identifier shows nothing of: controls and format characters (zero-width
#: space and joiners, byte order mark, bidi overrides, soft hyphen), separators and spaces, and the
#: default-ignorable and blank letters a font draws as nothing (combining grapheme joiner, Hangul
#: fillers, Mongolian and other variation selectors, the blank braille pattern). As an RE2 class,
#: for Arrow's kernels; :func:`invisible` says the same of one character.
INVISIBLE = (r"[\p{Cc}\p{Cf}\p{Z}\x{034F}\x{115F}\x{1160}\x{17B4}\x{17B5}\x{180B}-\x{180F}\x{2800}\x{3164}"
             r"\x{FE00}-\x{FE0F}\x{FFA0}\x{E0100}-\x{E01EF}]")
_BLANK_LETTERS = frozenset(map(chr, (0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x2800, 0x3164, 0xFFA0, *range(0x180B, 0x1810),
                                     *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0))))


def invisible(ch: str) -> bool:
    """Whether a character shows nothing (:data:`INVISIBLE`)."""
    import unicodedata

    return unicodedata.category(ch)[0] in "CZ" and unicodedata.category(ch) not in ("Co", "Cn") or ch in _BLANK_LETTERS


#: Longest identifier accepted (characters): every id of a submission, and every id a reviewer's
#: verdict names, fits in it.
ID_MAX = 100


@dataclass(frozen=True)
class Column:
    """One column of a submission table."""

    name: str
    zh: str
    type: str
    optional: bool = False  # the column may be absent from the file
    nonempty: bool = True  # a present cell may not be empty
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    values: dict[str, str] | None = None  # enum code -> Chinese label
    default: str | None = None  # value used when an optional column is absent or empty
    multiline: bool = False  # free text that may hold line breaks (a report summary, notes)
    event: bool = False  # a date of something that has happened (a service, a report): never after the run's day


@dataclass(frozen=True)
class Table:
    """One table of a submission."""

    name: str
    zh: str
    key: str
    columns: tuple[Column, ...]
    required: bool = True
    references: tuple[str, ...] = field(default=())  # columns that must name an accepted policy

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _opt(name: str, zh: str, type_: str, **kw) -> Column:
    return Column(name, zh, type_, optional=True, nonempty=False, **kw)


POLICIES = Table(
    "policies",
    "保单",
    key="policy_id",
    columns=(
        Column("policy_id", "保单号", "id"),
        Column("insurer_id", "保险机构代码", "id"),
        Column("insurer_name", "保险机构名称", "str", nonempty=False),
        _opt("broker_id", "保险经纪机构代码", "str"),
        _opt("coinsurance_group", "共保体", "str"),
        Column("enterprise_id", "统一社会信用代码", "uscc"),
        Column("enterprise_name", "投保单位名称", "str", nonempty=False),
        Column("region_code", "行政区划代码", "region"),
        Column("industry", "行业", "enum", values=INDUSTRIES),
        Column("employees", "从业人员数", "int", min=1),
        Column("start_date", "保险起期", "date"),
        Column("end_date", "保险止期", "date"),
        Column("premium", "保费", "money", min=0, min_exclusive=True),
        Column("premium_base_type", "计费方式", "enum", values=PREMIUM_BASE_TYPES),
        Column("premium_base", "计费基数", "money", min=0, min_exclusive=True),
        Column("base_rate", "基准费率", "float", min=0, min_exclusive=True),
        Column("rate_factor", "浮动系数", "float", min=0, min_exclusive=True),
        Column("death_limit_per_person", "每人死亡伤残责任限额", "money", min=0),
        Column("medical_limit_per_person", "每人医疗费用责任限额", "money", min=0),
        Column("per_accident_limit", "每次事故责任限额", "money", min=0),
        Column("aggregate_limit", "累计责任限额", "money", min=0),
        Column("covers_employees", "含从业人员伤亡责任", "bool"),
        Column("covers_third_party", "含第三者人身伤亡和财产损失", "bool"),
        Column("covers_rescue", "含事故抢险救援费用", "bool"),
        Column("covers_medical_rescue", "含医疗救护费用", "bool"),
        Column("covers_appraisal_legal", "含事故鉴定和法律诉讼费用", "bool"),
        Column("standardization_grade", "安全生产标准化等级", "enum", values=STANDARDIZATION_GRADES),
        Column("accidents_prev_year", "上年度生产安全事故起数", "int", min=0),
        Column("deaths_prev_year", "上年度事故死亡人数", "int", min=0),
        Column("prevention_fee", "事故预防费用", "money", min=0),
        Column("prevention_fee_account", "预防费用账户", "enum", values=FEE_ACCOUNTS),
        Column("premium_charged_to_employees", "保费摊派给从业人员", "bool"),
        _opt("commission_rate", "中介佣金比例", "float", min=0, max=1),
        _opt("enterprise_lat", "企业纬度", "float", min=-90, max=90),
        _opt("enterprise_lon", "企业经度", "float", min=-180, max=180),
    ),
)

SERVICES = Table(
    "services",
    "服务记录",
    key="service_id",
    references=("policy_id",),
    columns=(
        Column("service_id", "服务记录编号", "id"),
        Column("policy_id", "保单号", "id"),
        Column("service_item", "服务项目", "enum", values=SERVICE_ITEMS),
        Column("provider_type", "服务主体", "enum", values=PROVIDER_TYPES),
        _opt("agency_id", "服务机构代码", "str"),
        Column("staff_ids", "服务人员编号", "id"),
        Column("service_date", "服务日期", "date", event=True),
        Column("onsite_hours", "现场服务时长(小时)", "float", min=0),
        Column("hazards_found", "发现隐患数", "int", min=0),
        Column("hazards_rectified", "已整改隐患数", "int", min=0),
        _opt("followup_date", "整改复查日期", "date", event=True),
        _opt("report_date", "服务报告出具日期", "date", event=True),
        Column("enterprise_signed", "投保单位签字确认", "bool"),
        Column("photo_count", "影像资料数", "int", min=0),
        _opt("photo_hashes", "影像资料哈希", "str"),
        _opt("checkin_lat", "签到纬度", "float", min=-90, max=90),
        _opt("checkin_lon", "签到经度", "float", min=-180, max=180),
        _opt("satisfaction", "投保单位满意度", "int", min=1, max=5),
        Column("cost", "服务费用", "money", min=0),
        _opt("report_summary", "服务报告摘要", "str", multiline=True),
    ),
)

STAFF = Table(
    "staff",
    "服务人员",
    key="staff_id",
    required=False,
    columns=(
        Column("staff_id", "服务人员编号", "id"),
        _opt("agency_id", "所属机构", "str"),
        Column("qualification", "资质", "enum", values=QUALIFICATIONS),
        Column("years_experience", "从业年限", "int", min=0),
    ),
)

INSPECTIONS = Table(
    "inspections",
    "核查结果",
    key="inspection_id",
    required=False,
    references=("policy_id",),
    columns=(
        Column("inspection_id", "核查编号", "id"),
        Column("policy_id", "保单号", "id"),
        Column("inspection_date", "核查日期", "date", event=True),
        Column("inspector_org", "核查单位", "str", nonempty=False),
        Column("outcome", "核查结论", "enum", values=OUTCOMES),
        _opt("notes", "备注", "str", multiline=True),
        _opt("selection", "抽查方式", "enum", values=SELECTIONS, default="targeted"),
    ),
)

CLAIMS = Table(
    "claims",
    "赔案",
    key="claim_id",
    required=False,
    references=("policy_id",),
    columns=(
        Column("claim_id", "赔案号", "id"),
        Column("policy_id", "保单号", "id"),
        Column("accident_date", "事故日期", "date", event=True),
        Column("report_date", "报案日期", "date", event=True),
        _opt("accident_level", "事故等级", "enum", values=ACCIDENT_LEVELS),
        Column("deaths", "死亡人数", "int", min=0),
        Column("injuries", "受伤人数", "int", min=0),
        Column("status", "赔案状态", "enum", values=CLAIM_STATUSES),
        Column("paid_amount", "已付赔款", "money", min=0),
        Column("reserve_amount", "未决估损", "money", min=0),
        _opt("closed_date", "结案日期", "date", event=True),
        _opt("denial_reason", "拒赔原因", "str", multiline=True),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (POLICIES, SERVICES, STAFF, INSPECTIONS, CLAIMS)}
#: Each column's Chinese name, for messages and reports (a name shared by tables: the last table's).
COLUMN_ZH: dict[str, str] = {c.name: c.zh for t in TABLES.values() for c in t.columns}
#: Chinese sheet / file names accepted for each table.
TABLE_ALIASES: dict[str, str] = {t.zh: t.name for t in TABLES.values()}
