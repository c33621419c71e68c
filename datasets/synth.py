"""Synthetic 安责险 submissions in the v1 format, with hidden service quality and planted truth.

Run ``python -m datasets.synth --policies 5000 --seed 7 --out DIR [--truth DIR] [--xlsx FILE]``.

The world: prefectures with their insurers, brokers, co-insurance groups and technical
service agencies; enterprises of the high-risk industries that renew their policy year
after year; staff with qualifications. Each policy has a hidden service quality
(``adequate`` / ``poor_quality`` / ``missing``) driven by the insurer's diligence, the
agency's quality, the enterprise and the year. Quality reaches the records only through
noisy, overlapping signals: poor service usually comes with tidy paperwork, fabricated
records (most missing service that is not simply absent) look diligent, and good service
sometimes has sloppy records. ``datasets/README.md`` says what every number rests on.

Truth kept outside the submission: ``hidden`` (quality per policy and the drivers) and
``truth`` (every rule violation the generator made, as ``rule_code`` + ids). The truth of a
rule whose check kind has a case in :mod:`datasets.plant` is judged by that case on the tables
as written; a rule the shipped rulebook does not have is planted by its kind (``Config.rulebook``),
so a rule of an existing kind is added in the rulebook alone.
Everything is vectorised NumPy / pandas and deterministic for a seed.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from scipy.stats import norm

from datasets import plant as cases
from scoring.submission import uscc
from scoring.schema import HIGH_RISK_INDUSTRIES, TABLES

# (code, name, province, lat, lon): real prefectures, GB/T 2260 codes.
REGIONS = [
    ("640200", "石嘴山市", "64", 39.02, 106.38),
    ("640100", "银川市", "64", 38.49, 106.23),
    ("140100", "太原市", "14", 37.87, 112.55),
    ("140200", "大同市", "14", 40.08, 113.30),
    ("370100", "济南市", "37", 36.65, 117.12),
    ("370200", "青岛市", "37", 36.07, 120.38),
    ("320500", "苏州市", "32", 31.30, 120.62),
    ("330100", "杭州市", "33", 30.27, 120.15),
    ("510100", "成都市", "51", 30.67, 104.07),
    ("410100", "郑州市", "41", 34.75, 113.62),
    ("130100", "石家庄市", "13", 38.04, 114.51),
    ("610100", "西安市", "61", 34.34, 108.94),
    ("150200", "包头市", "15", 40.66, 109.84),
    ("520100", "贵阳市", "52", 26.65, 106.63),
    ("420100", "武汉市", "42", 30.59, 114.31),
    ("440300", "深圳市", "44", 22.54, 114.06),
]
INSURERS = [
    ("PICC", "中国人民财产保险股份有限公司"),
    ("PAIC", "中国平安财产保险股份有限公司"),
    ("CPIC", "中国太平洋财产保险股份有限公司"),
    ("CLPC", "中国人寿财产保险股份有限公司"),
    ("CCIC", "中国大地财产保险股份有限公司"),
    ("CUIC", "中华联合财产保险股份有限公司"),
    ("SSAI", "阳光财产保险股份有限公司"),
    ("TPIC", "太平财产保险有限公司"),
    ("HAIC", "华安财产保险股份有限公司"),
    ("YDTH", "英大泰和财产保险股份有限公司"),
    ("ZJIC", "紫金财产保险股份有限公司"),
    ("YAIC", "永安财产保险股份有限公司"),
]
# More property insurers that write 安责险 somewhere in China: other worlds draw their market from all of them.
MORE_INSURERS = [
    ("TAIC", "天安财产保险股份有限公司"),
    ("HTIC", "华泰财产保险有限公司"),
    ("YCIC", "永诚财产保险股份有限公司"),
    ("AXTP", "安盛天平财产保险有限公司"),
    ("DJIC", "大家财产保险有限责任公司"),
    ("BHIC", "渤海财产保险股份有限公司"),
    ("DBIC", "都邦财产保险股份有限公司"),
    ("ACIC", "安诚财产保险股份有限公司"),
    ("ZCIC", "众诚汽车保险股份有限公司"),
    ("CAIC", "长安责任保险股份有限公司"),
    ("DHIC", "鼎和财产保险股份有限公司"),
    ("ZSIC", "浙商财产保险股份有限公司"),
    ("ZMIC", "中煤财产保险股份有限公司"),
    ("JTIC", "锦泰财产保险股份有限公司"),
    ("TSIC", "泰山财产保险股份有限公司"),
    ("CTIC", "诚泰财产保险股份有限公司"),
]
ALL_INSURERS = INSURERS + MORE_INSURERS
# Industry mix of insured enterprises (share), employees (median, log-sd).
INDUSTRY_MIX = {
    "construction": (0.24, 60, 0.9),
    "transportation": (0.18, 40, 0.9),
    "hazardous_chemicals": (0.15, 80, 0.8),
    "non_coal_mining": (0.10, 50, 0.7),
    "metallurgy": (0.08, 150, 0.8),
    "coal_mining": (0.05, 400, 0.6),
    "fireworks": (0.03, 30, 0.6),
    "civil_explosives": (0.02, 60, 0.5),
    "fishery": (0.05, 12, 0.6),
    "other": (0.10, 40, 0.9),
}
# Median yuan per head per year for per_capita (vehicle: per vehicle).
PER_HEAD_RATE = {
    "coal_mining": 800, "non_coal_mining": 500, "hazardous_chemicals": 400, "fireworks": 450,
    "civil_explosives": 500, "metallurgy": 350, "construction": 300, "transportation": 350,
    "fishery": 300, "other": 150,
}
FRACTION_RATE = {"payroll": 0.004, "revenue": 0.0006, "project_cost": 0.0012}
QUALITY = np.array(["adequate", "poor_quality", "missing"], dtype=object)
ITEMS = np.array(["hazard_inspection", "training", "risk_assessment", "emergency_plan", "standardization", "technology", "other"], dtype=object)
ITEM_P = {
    "adequate": [0.40, 0.20, 0.15, 0.10, 0.08, 0.04, 0.03],
    "poor_quality": [0.32, 0.34, 0.11, 0.08, 0.05, 0.04, 0.06],
    "fabricated": [0.38, 0.24, 0.14, 0.10, 0.07, 0.04, 0.03],
    "token": [0.10, 0.60, 0.05, 0.05, 0.00, 0.05, 0.15],
}
QUALIFICATIONS = np.array(["registered_safety_engineer", "senior_title", "intermediate_title", "safety_expert", "none"], dtype=object)
AREAS = np.array(list("一二三四五六七八") , dtype=object)
_PLACES = ["生产车间", "仓储区", "配电室", "危化品库房", "装卸区", "锅炉房", "办公区", "消防通道", "作业面", "运输通道",
           "储罐区", "控制室", "维修间", "原料堆场", "成品库", "变电所", "井口", "爆破器材库", "泵房", "食堂后厨"]
_HAZARDS = ["灭火器过期", "安全出口堵塞", "电气线路私拉乱接", "防护栏缺失", "警示标志不全", "未佩戴安全帽", "气体检测仪未校验",
            "应急照明损坏", "特种作业人员无证上岗", "消防水带老化", "静电接地不良", "安全阀未检测", "通风不良", "物料堆放超高",
            "作业票证不全", "防爆电器失效", "临边防护缺失", "车辆制动异常", "救生设备不足", "隐患台账未更新"]
_MEASURES = ["已要求立即整改", "限期七日内整改", "已现场督促整改", "建议更换设备", "已下达整改通知书", "已组织专项培训",
             "纳入复查清单", "已约谈企业负责人", "建议完善管理制度", "已提交整改方案"]
_PEOPLE = ["张", "王", "李", "赵", "刘", "陈", "杨", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗", "高"]
_ROLES = ["主任", "经理", "工程师", "安全员", "班组长"]
BOILERPLATE = [
    "经现场检查企业安全生产状况总体良好未发现重大事故隐患已督促企业落实安全生产主体责任",
    "本次服务对企业开展了安全生产宣传教育培训员工安全意识明显提高企业对服务表示满意",
    "按照服务方案完成风险辨识评估企业安全管理制度健全各项措施落实到位无需整改",
]
NAME_WORDS = ["宏达", "鑫源", "华泰", "恒通", "永安", "金盛", "兴隆", "瑞丰", "昌盛", "博远", "天成", "中信", "东方", "新华", "振兴", "广源"]
NAME_SUFFIX = {
    "coal_mining": "煤业有限公司", "non_coal_mining": "矿业有限公司", "hazardous_chemicals": "化工有限公司",
    "fireworks": "烟花爆竹有限公司", "transportation": "运输有限公司", "construction": "建设工程有限公司",
    "civil_explosives": "民爆器材有限公司", "metallurgy": "冶金有限公司", "fishery": "水产捕捞有限公司", "other": "实业有限公司",
}
CUTOVER = np.datetime64("2025-03-29")


@dataclass(frozen=True)
class WorldParams:
    """What no one can know about real submissions: how a market serves, records and inspects.

    The defaults are the shipped sample's world. :func:`draw_world` draws every field from
    :data:`WORLD_RANGES`, so that a model can be trained on several worlds and judged on one
    it never saw (datasets/README.md, "Worlds").
    """

    insurer_effect: float = 0.6  # weight of the insurer's diligence in the latent service quality
    agency_effect: float = 0.5  # weight of the service agency's quality
    visit_scale: float = 1.0  # multiplies the number of visits of every kind
    poor_tidiness: float = 0.0  # 0: poor service keeps its own paperwork rates; 1: its paperwork looks like good service's
    fabricated_photo_reuse: float = 0.08  # share of fabricated visits with a stock photo reused across enterprises
    fabricated_far_checkin: float = 0.07  # share of fabricated visits checked in 15-130 km away
    fabricated_boilerplate: float = 0.2  # share of fabricated report texts that are a provider's boilerplate
    boilerplate_providers: float = 0.0  # share of providers that paste boilerplate into genuine reports too
    boilerplate_genuine_share: float = 0.3  # of those providers' genuine report texts, the boilerplate share
    checkin_coverage: float = 0.85  # share of visits with a check-in location
    photo_hash_coverage: float = 1.0  # share of visits with photos whose hashes are submitted
    report_text_coverage: float = 0.6  # share of visits with a report summary text
    targeting: float = 1.0  # weight of visible risk when a regulator picks policies to inspect
    missing_scale: float = 1.0  # multiplies the yearly missing-service rates
    group_training: float = 0.0  # share of genuine training visits held as group sessions (one photo, one text for many enterprises)
    insurers: tuple[int, ...] = tuple(range(len(INSURERS)))  # indices into ALL_INSURERS active in this market
    entity_tag: str = ""  # part of every agency, staff, policy, service, inspection and claim id: worlds share no entity


#: Documented range of every drawn world parameter (datasets/README.md says why each range).
WORLD_RANGES: dict[str, tuple[float, float]] = {
    "insurer_effect": (0.3, 0.9),
    "agency_effect": (0.2, 0.8),
    "visit_scale": (0.6, 1.6),
    "poor_tidiness": (0.0, 1.0),
    "fabricated_photo_reuse": (0.02, 0.20),
    "fabricated_far_checkin": (0.01, 0.15),
    "fabricated_boilerplate": (0.05, 0.50),
    "boilerplate_providers": (0.0, 0.6),
    "boilerplate_genuine_share": (0.1, 0.6),
    "checkin_coverage": (0.3, 0.95),
    "photo_hash_coverage": (0.4, 1.0),
    "report_text_coverage": (0.3, 0.9),
    "targeting": (0.3, 1.5),
    "missing_scale": (0.6, 1.5),
}
#: Ranges of Config fields that a drawn world also sets.
CONFIG_RANGES: dict[str, tuple[float, float]] = {
    "poor_rate": (0.12, 0.30),
    "fabricated_share": (0.40, 0.85),
    "inspected_targeted": (0.05, 0.12),
    "inspected_random": (0.01, 0.05),
    "inspector_error": (0.03, 0.12),
}


@dataclass(frozen=True)
class Config:
    """What the generated world looks like. Every default is explained in datasets/README.md."""

    n_policies: int = 5000
    seed: int = 0
    first_year: int = 2021
    last_year: int = 2025
    snapshot: str = "2025-12-31"
    missing_rate: dict = field(default_factory=lambda: {2021: 0.17, 2022: 0.15, 2023: 0.13, 2024: 0.11, 2025: 0.10})
    poor_rate: float = 0.22
    fabricated_share: float = 0.65  # of missing service, records were fabricated
    inspected_targeted: float = 0.08  # of ended policies, chosen by visible risk
    inspected_random: float = 0.025  # of ended policies, random audit
    inspector_error: float = 0.06  # outcome recorded as a neighbouring class
    violation_rate: float = 0.004  # per planted code, share of eligible policies / services
    service_scale: float = 1.0  # multiplies the number of service visits (benchmarks use 1.12 for 5 per policy)
    with_staff: bool = True
    with_inspections: bool = True
    with_claims: bool = True
    world: WorldParams = field(default_factory=WorldParams)
    rulebook: str | None = None  # the rulebook whose rules the truth tells (None: the shipped one)


def draw_world(seed: int, n_policies: int = 5000, **kw) -> Config:
    """A world no one has seen: every parameter of :data:`WORLD_RANGES` and :data:`CONFIG_RANGES`
    drawn uniformly from its range, 8-12 of the 28 insurers active, agencies of its own.
    Deterministic for ``seed``; ``kw`` overrides Config fields (e.g. ``first_year``)."""
    rng = np.random.default_rng([20251, seed])
    params = {k: round(float(rng.uniform(lo, hi)), 4) for k, (lo, hi) in WORLD_RANGES.items()}
    k = int(rng.integers(8, 13))
    params["insurers"] = tuple(sorted(int(i) for i in rng.choice(len(ALL_INSURERS), size=k, replace=False)))
    params["entity_tag"] = f"W{seed:03d}"
    conf = {k: round(float(rng.uniform(lo, hi)), 4) for k, (lo, hi) in CONFIG_RANGES.items()}
    return Config(n_policies=n_policies, seed=int(rng.integers(1 << 30)), world=WorldParams(**params), **{**conf, **kw})


#: The held-out family: mechanics no training world has. Fabricated records carry no physical
#: trace and no boilerplate (copied from genuine ones), poor service keeps tidy paperwork, and
#: genuine trainings held as group sessions share photos and texts (``group_training``).
HELD_OUT_FAMILY = {"fabricated_photo_reuse": 0.0, "fabricated_far_checkin": 0.0, "fabricated_boilerplate": 0.0,
                   "poor_tidiness": 1.0, "group_training": (0.3, 0.6)}


def draw_held_out(seed: int, n_policies: int = 5000, **kw) -> Config:
    """A world of the held-out family (:data:`HELD_OUT_FAMILY`): :func:`draw_world` with those
    mechanics set, each range drawn from a stream of its own. Never used to train the champion."""
    cfg = draw_world(seed, n_policies, **kw)
    rng = np.random.default_rng([20252, seed])
    fixed = {k: (round(float(rng.uniform(*v)), 4) if isinstance(v, tuple) else v) for k, v in HELD_OUT_FAMILY.items()}
    return replace(cfg, world=replace(cfg.world, entity_tag=f"H{seed:03d}", **fixed))


@dataclass
class World:
    """A generated submission with what the generator knows and the submission does not say."""

    tables: dict[str, pd.DataFrame]
    hidden: pd.DataFrame
    truth: pd.DataFrame
    as_of: np.datetime64
    config: Config
    untold: tuple[str, ...] = ()  # rule codes whose truth the generator cannot tell (their kind is a story)


def _choice(rng, options, p, size):
    return np.asarray(options, dtype=object)[rng.choice(len(options), size=size, p=np.asarray(p) / np.sum(p))]


def _days(x) -> np.ndarray:
    return np.asarray(x, dtype="timedelta64[D]")


def _hex_ids(rng, n: int, nbytes: int = 8) -> np.ndarray:
    raw = rng.bytes(nbytes * n).hex().encode()
    return np.frombuffer(raw, dtype=f"S{2 * nbytes}").astype(f"U{2 * nbytes}").astype(object)


def _zscore(x):
    x = np.asarray(x, dtype=float)
    return (x - x.mean()) / (x.std() + 1e-9)


def _by_region_choice(rng, presence: np.ndarray, region: np.ndarray) -> np.ndarray:
    """An insurer per row, drawn from the row's region market shares."""
    out = np.empty(len(region), dtype=np.int64)
    for r in np.unique(region):
        idx = np.flatnonzero(region == r)
        out[idx] = rng.choice(presence.shape[1], size=len(idx), p=presence[r])
    return out


def _market(rng, cfg: Config):
    """Insurers, their regional presence, agencies, brokers and staff."""
    n_reg = len(REGIONS)
    n_ins = len(cfg.world.insurers)
    diligence = np.clip(rng.beta(5, 2, n_ins), 0.3, 0.95)
    diligence[np.argsort(diligence)[:1]] = 0.25  # one insurer skimps on service
    presence = np.zeros((n_reg, n_ins))
    for r in range(n_reg):
        members = rng.choice(n_ins, size=rng.integers(6, 9), replace=False)
        presence[r, members] = rng.dirichlet(np.full(len(members), 8.0))
    agencies = []
    for r, reg in enumerate(REGIONS):
        for k in range(3):
            q = float(np.clip(rng.beta(4, 2), 0.05, 0.98))
            agencies.append((f"AG{reg[0]}{cfg.world.entity_tag}{k + 1}", r, q))
    agency_q = np.array([a[2] for a in agencies])
    agency_q[rng.choice(len(agencies), size=max(1, len(agencies) // 8), replace=False)] = 0.15  # a few poor agencies
    brokers = {r: [f"BK{REGIONS[r][0]}{k + 1}" for k in range(int(rng.integers(4, 7)))] for r in range(n_reg)}
    return diligence, presence, agencies, agency_q, brokers


def _enterprises(rng, cfg: Config, presence):
    years = np.arange(cfg.first_year, cfg.last_year + 1)
    mean_len = 2.6
    n_ent = int(cfg.n_policies / mean_len * 1.45) + 10
    n_reg = len(REGIONS)
    region = rng.choice(n_reg, size=n_ent, p=rng.dirichlet(np.full(n_reg, 6.0)))
    inds = list(INDUSTRY_MIX)
    industry = _choice(rng, inds, [INDUSTRY_MIX[i][0] for i in inds], n_ent)
    med = np.array([INDUSTRY_MIX[i][1] for i in industry])
    sd = np.array([INDUSTRY_MIX[i][2] for i in industry])
    employees = np.maximum(1, np.round(med * np.exp(rng.normal(0, sd)))).astype(np.int64)
    first = rng.choice(years, size=n_ent)
    length = np.minimum(rng.geometric(0.3, n_ent), cfg.last_year - first + 1)
    lat0 = np.array([REGIONS[r][3] for r in region])
    lon0 = np.array([REGIONS[r][4] for r in region])
    lat = lat0 + np.clip(rng.normal(0, 0.15, n_ent), -0.4, 0.4)
    lon = lon0 + np.clip(rng.normal(0, 0.15, n_ent), -0.4, 0.4)
    has_loc = rng.random(n_ent) > 0.06
    names = (
        np.array([REGIONS[r][1][:-1] for r in region], dtype=object)
        + _choice(rng, NAME_WORDS, np.ones(len(NAME_WORDS)), n_ent)
        + np.array([NAME_SUFFIX[i] for i in industry], dtype=object)
    )
    # insurer per enterprise, by the region's market shares
    ins = _by_region_choice(rng, presence, region)
    return pd.DataFrame(
        {
            "enterprise_id": uscc.generate(rng, n_ent),
            "enterprise_name": names,
            "_region": region,
            "industry": industry,
            "employees": employees,
            "_first": first,
            "_len": length,
            "_anniv": rng.integers(0, 365, n_ent),
            "_lat": np.where(has_loc, lat, np.nan),
            "_lon": np.where(has_loc, lon, np.nan),
            "_true_lat": lat,
            "_true_lon": lon,
            "_effect": rng.normal(0, 1, n_ent),
            "_insurer": ins,
            "grade": _choice(rng, ["1", "2", "3", "none"], [0.05, 0.25, 0.40, 0.30], n_ent),
        }
    )


def _policies(rng, cfg: Config, ent: pd.DataFrame, presence, brokers, agencies):
    snapshot = np.datetime64(cfg.snapshot)
    rep = ent.loc[ent.index.repeat(ent["_len"].to_numpy())].copy()
    rep["_k"] = rep.groupby(level=0).cumcount()
    rep["year"] = rep["_first"] + rep["_k"]
    rep = rep.reset_index(drop=True)
    start = (rep["year"].astype(str) + "-01-01").to_numpy().astype("datetime64[D]") + _days(rep["_anniv"].to_numpy())
    rep["start_date"] = start
    rep["end_date"] = start + _days(364)
    rep = rep[rep["start_date"].to_numpy() <= snapshot]
    rep = rep.sample(frac=1.0, random_state=np.random.RandomState(cfg.seed)).head(cfg.n_policies)
    rep = rep.sort_values(["start_date", "enterprise_id"], kind="stable").reset_index(drop=True)
    n = len(rep)
    # insurer: enterprise's, switching at some renewals
    switch = (rng.random(n) < 0.15) & (rep["_k"].to_numpy() > 0)
    alt = _by_region_choice(rng, presence, rep["_region"].to_numpy())
    rep["_insurer"] = np.where(switch, alt, rep["_insurer"].to_numpy())
    # service provider: each insurer x region contracts one of the region's agencies, or serves in-house
    n_ins = presence.shape[1]
    contract = rng.integers(0, 3, size=(len(REGIONS), n_ins))
    inhouse = rng.random((len(REGIONS), n_ins)) < 0.3
    reg = rep["_region"].to_numpy()
    insr = rep["_insurer"].to_numpy()
    rep["_agency"] = np.where(inhouse[reg, insr], -1, reg * 3 + contract[reg, insr])
    # brokers: 40% of policies, uniform among the region's brokers
    brokered = rng.random(n) < 0.4
    rep["broker_id"] = [brokers[r][i % len(brokers[r])] if b else None for r, b, i in zip(reg, brokered, rng.integers(0, 100, n))]
    post = rep["start_date"].to_numpy() >= CUTOVER
    comm = np.where(post, rng.uniform(0.01, 0.05, n), rng.uniform(0.02, 0.10, n))
    rep["commission_rate"] = np.where(brokered, np.round(comm, 3), np.nan)
    co = rng.random(n) < 0.05
    rep["coinsurance_group"] = np.where(co, np.char.add("GB", rep["_region"].map(lambda r: REGIONS[r][0]).to_numpy().astype(str)), None)
    rep["coinsurance_group"] = rep["coinsurance_group"].where(~co, rep["coinsurance_group"] + np.where(rng.random(n) < 0.5, "A", "B"))
    return rep


def _pricing(rng, rep: pd.DataFrame):
    n = len(rep)
    ind = rep["industry"].to_numpy()
    emp = rep["employees"].to_numpy()
    btype = np.where(ind == "construction", _choice(rng, ["project_cost", "per_capita"], [0.7, 0.3], n),
             np.where(ind == "transportation", _choice(rng, ["vehicle", "per_capita"], [0.7, 0.3], n),
                      _choice(rng, ["per_capita", "payroll", "revenue"], [0.6, 0.25, 0.15], n)))
    rep["premium_base_type"] = btype
    vehicles = np.maximum(1, np.round(emp * rng.uniform(0.4, 0.9, n)))
    base = np.select(
        [btype == "per_capita", btype == "vehicle", btype == "payroll", btype == "revenue", btype == "project_cost"],
        [emp, vehicles, np.round(emp * 80000 * np.exp(rng.normal(0, 0.3, n)), -3),
         np.round(emp * 500000 * np.exp(rng.normal(0, 0.5, n)), -4), np.round(5e7 * np.exp(rng.normal(0, 0.8, n)), -4)],
    ).astype(float)
    rep["premium_base"] = base
    head = np.array([PER_HEAD_RATE[i] for i in ind], dtype=float)
    rel = head / 400.0
    median_rate = np.select(
        [np.isin(btype, ["per_capita", "vehicle"]), btype == "payroll", btype == "revenue", btype == "project_cost"],
        [np.where(btype == "vehicle", 600.0, head), FRACTION_RATE["payroll"] * rel, FRACTION_RATE["revenue"] * rel,
         np.full(n, FRACTION_RATE["project_cost"])],
    )
    rep["_median_rate"] = median_rate
    rep["base_rate"] = np.round(median_rate * np.exp(rng.uniform(-0.25, 0.25, n)), 8)
    # accidents and floating: record loading >= 1.1, standardisation discount otherwise
    risk = np.where(np.isin(ind, ["coal_mining", "non_coal_mining", "fireworks", "construction"]), 0.08, 0.04)
    acc = rng.poisson(risk)
    rep["accidents_prev_year"] = acc
    rep["deaths_prev_year"] = np.where(acc > 0, rng.binomial(acc, 0.3), 0)
    grade_disc = pd.Series(rep["grade"]).map({"1": 0.85, "2": 0.9, "3": 0.95, "none": 1.0}).to_numpy()
    factor = np.where(acc > 0, rng.uniform(1.1, 1.25, n), grade_disc * rng.uniform(0.97, 1.05, n))
    rep["rate_factor"] = np.round(factor, 3)
    _reprice(rep)
    post = rep["start_date"].to_numpy() >= CUTOVER
    death = np.where(post, _choice(rng, [400000, 500000, 600000, 800000, 1000000], [0.5, 0.25, 0.15, 0.06, 0.04], n),
                     _choice(rng, [300000, 400000, 500000, 600000, 1000000], [0.4, 0.25, 0.2, 0.1, 0.05], n)).astype(float)
    rep["death_limit_per_person"] = death
    rep["medical_limit_per_person"] = death * _choice(rng, [0.1, 0.2], [0.6, 0.4], n).astype(float)
    rep["per_accident_limit"] = death * np.clip(np.round(emp * 0.3), 5, 30)
    rep["aggregate_limit"] = rep["per_accident_limit"] * _choice(rng, [1, 2, 3], [0.4, 0.4, 0.2], n).astype(float)
    for c in ("covers_employees", "covers_third_party", "covers_rescue", "covers_medical_rescue", "covers_appraisal_legal"):
        rep[c] = True
    fee_ratio = np.where(post, rng.uniform(0.06, 0.205, n), rng.uniform(0.05, 0.25, n))
    rep["_fee_ratio"] = fee_ratio
    rep["prevention_fee"] = np.round(rep["premium"].to_numpy() * fee_ratio, 2)
    rep["prevention_fee_account"] = _choice(rng, ["insurer_dedicated", "other"], [0.92, 0.08], n)
    rep["premium_charged_to_employees"] = False


def _reprice(rep: pd.DataFrame, mask=None):
    p = np.round(rep["premium_base"] * rep["base_rate"] * rep["rate_factor"], 2)
    rep["premium"] = p if mask is None else rep["premium"].where(~mask, p)


def _quality(rng, cfg: Config, rep: pd.DataFrame, diligence, agency_q):
    n = len(rep)
    d = diligence[rep["_insurer"].to_numpy()]
    a = np.where(rep["_agency"].to_numpy() >= 0, agency_q[np.maximum(rep["_agency"].to_numpy(), 0)], d)
    wp = cfg.world
    latent = wp.insurer_effect * (d - 0.6) / 0.2 + wp.agency_effect * (a - 0.65) / 0.2 + 0.5 * rep["_effect"].to_numpy() + rng.normal(0, 1.0, n)
    latent = _zscore(latent)
    year = rep["year"].to_numpy()
    m = np.array([cfg.missing_rate.get(int(y), 0.12) for y in year]) * cfg.world.missing_scale
    q = np.where(latent < norm.ppf(m), 2, np.where(latent < norm.ppf(m + cfg.poor_rate), 1, 0))
    fabricated = (q == 2) & (rng.random(n) < cfg.fabricated_share + 0.25 * (0.6 - d))
    rep["_quality"] = q
    rep["_fabricated"] = fabricated
    rep["_diligence"] = d
    rep["_agency_q"] = a


def _services(rng, cfg: Config, rep: pd.DataFrame, staff: pd.DataFrame, agencies):
    snapshot = np.datetime64(cfg.snapshot)
    n = len(rep)
    q = rep["_quality"].to_numpy()
    fab = rep["_fabricated"].to_numpy()
    kind = np.where(q == 0, "adequate", np.where(q == 1, "poor_quality", np.where(fab, "fabricated", "token")))
    start = rep["start_date"].to_numpy().astype("datetime64[D]")
    elapsed = np.clip((snapshot - start).astype(int) + 1, 0, 365)
    frac = elapsed / 365.0
    hr = np.isin(rep["industry"].to_numpy(), HIGH_RISK_INDUSTRIES)
    mean = pd.Series(kind).map({"adequate": 4.2, "poor_quality": 3.2, "fabricated": 3.6, "token": 0.35}).to_numpy()
    # contracts differ in planned frequency: a policy-level multiplier blurs the classes
    mean = mean * (1 + 0.25 * hr) * (0.8 + 0.4 * rep["_diligence"].to_numpy()) * np.exp(rng.normal(0, 0.35, n)) * cfg.service_scale * cfg.world.visit_scale
    count = rng.poisson(mean * frac)
    pol = np.repeat(np.arange(n), count)
    m = len(pol)
    sk = kind[pol]
    s = pd.DataFrame({"_pol": pol, "_kind": sk})
    s["policy_id"] = rep["policy_id"].to_numpy()[pol]
    offs = np.floor(rng.random(m) * elapsed[pol]).astype(int)
    s["service_date"] = start[pol] + _days(offs)
    items = np.empty(m, dtype=object)
    for k, p in ITEM_P.items():
        idx = np.flatnonzero(sk == k)
        items[idx] = _choice(rng, ITEMS, p, len(idx))
    s["service_item"] = items
    ag = rep["_agency"].to_numpy()[pol]
    s["provider_type"] = np.where(ag >= 0, "agency", "insurer")
    s["agency_id"] = np.where(ag >= 0, np.array([a[0] for a in agencies] + [None], dtype=object)[np.where(ag >= 0, ag, -1)], None)
    # staff: from the agency's pool, or the insurer's in-house pool in that region
    ins_codes = np.array([ALL_INSURERS[i][0] for i in cfg.world.insurers], dtype=object)
    reg = rep["_region"].to_numpy()[pol]
    region_codes = np.array([r[0] for r in REGIONS], dtype=object)
    s["_pool"] = np.where(ag >= 0, s["agency_id"].to_numpy(), ins_codes[rep["_insurer"].to_numpy()[pol]] + region_codes[reg] + cfg.world.entity_tag)
    s["_pool_q"] = rep["_agency_q"].to_numpy()[pol]
    staff, pools = _make_staff(rng, s)
    first, second = np.empty(m, dtype=object), np.empty(m, dtype=object)
    for key, idx in s.groupby("_pool").indices.items():
        members = pools[key]
        i1 = rng.integers(0, len(members), len(idx))
        i2 = (i1 + 1 + rng.integers(0, max(1, len(members) - 1), len(idx))) % len(members)
        first[idx], second[idx] = members[i1], members[i2]
    two = (rng.random(m) < 0.3) & (first != second)
    s["_staff1"], s["_staff2"] = first, np.where(two, second, None)
    _dedupe_staff_days(rng, s, pools)

    kinds, kind_code = np.unique(sk, return_inverse=True)

    tidy = cfg.world.poor_tidiness

    def by_kind(values: dict, paperwork: bool = False):
        """Per record, its kind's value; paperwork of poor service moves toward good service's by ``poor_tidiness``."""
        if paperwork and tidy:
            values = {**values, "poor_quality": values["poor_quality"] + tidy * (values["adequate"] - values["poor_quality"])}
        return np.array([values[k] for k in kinds], dtype=float)[kind_code]

    # self-reported quantities: each provider reports in its own style, each enterprise has its own hazard level
    style = np.exp(rng.normal(0, 0.25, n))[pol]
    hazard_level = np.exp(rng.normal(0, 0.6, n))[pol]
    med_h = by_kind({"adequate": 2.8, "poor_quality": 2.1, "fabricated": 2.6, "token": 1.2}) * style
    s["onsite_hours"] = np.round(np.clip(med_h * np.exp(rng.normal(0, 0.3, m)), 0.25, 4.0) * 4) / 4
    insp = np.isin(items, ["hazard_inspection", "risk_assessment"])
    lam = np.where(insp, by_kind({"adequate": 3.0, "poor_quality": 2.1, "fabricated": 2.4, "token": 0.8}),
                   by_kind({"adequate": 0.5, "poor_quality": 0.35, "fabricated": 0.3, "token": 0.1})) * hazard_level
    found = rng.poisson(lam)
    s["hazards_found"] = found
    p_follow = by_kind({"adequate": 0.88, "poor_quality": 0.76, "fabricated": 0.84, "token": 0.5}, paperwork=True)
    follow = (found > 0) & (rng.random(m) < p_follow)
    fdate = s["service_date"].to_numpy() + _days(rng.integers(7, 46, m))
    follow &= fdate <= snapshot
    s["followup_date"] = np.where(follow, fdate, np.datetime64("NaT"))
    p_rect = by_kind({"adequate": 0.9, "poor_quality": 0.78, "fabricated": 0.94, "token": 0.5}, paperwork=True)
    s["hazards_rectified"] = np.where(follow, rng.binomial(found, p_rect), rng.binomial(found, 0.3))
    p_report = by_kind({"adequate": 0.97, "poor_quality": 0.95, "fabricated": 0.995, "token": 0.8}, paperwork=True)
    delay_mean = by_kind({"adequate": 6.0, "poor_quality": 6.5, "fabricated": 4.5, "token": 9.0}, paperwork=True)
    delay = rng.geometric(1 / delay_mean) - 1
    rdate = s["service_date"].to_numpy() + _days(delay)
    has_report = (rng.random(m) < p_report) & (rdate <= snapshot)
    s["report_date"] = np.where(has_report, rdate, np.datetime64("NaT"))
    s["enterprise_signed"] = rng.random(m) < by_kind({"adequate": 0.93, "poor_quality": 0.91, "fabricated": 0.96, "token": 0.8}, paperwork=True)
    photos = rng.poisson(by_kind({"adequate": 3.6, "poor_quality": 2.9, "fabricated": 3.0, "token": 1.5}, paperwork=True))
    s["photo_count"] = photos
    sat_hi = by_kind({"adequate": 0.85, "poor_quality": 0.8, "fabricated": 0.9, "token": 0.5}, paperwork=True)
    sat = np.where(rng.random(m) < sat_hi, rng.integers(4, 6, m), rng.integers(2, 5, m)).astype(float)
    s["satisfaction"] = np.where(rng.random(m) < 0.8, sat, np.nan)
    # spend: a target share of the prevention fee, split across the policy's services
    ratio = np.where(q == 0, rng.uniform(0.5, 1.0, n), np.where(q == 1, rng.uniform(0.35, 0.95, n), np.where(fab, rng.uniform(0.3, 0.95, n), rng.uniform(0.05, 0.6, n))))
    budget = rep["prevention_fee"].to_numpy() * ratio * frac
    w = rng.gamma(2.0, 1.0, m)
    wsum = np.bincount(pol, weights=w, minlength=n)
    s["cost"] = np.round(budget[pol] * w / np.where(wsum[pol] > 0, wsum[pol], 1), 2)
    return s, staff


def _integrity_and_text(rng, cfg: Config, s: pd.DataFrame, rep: pd.DataFrame):
    """Photos, check-ins and report texts, with fabrication patterns mostly on fabricated records."""
    m = len(s)
    fabk = s["_kind"].to_numpy() == "fabricated"
    pol = s["_pol"].to_numpy()
    # photos: fabricated records often reuse stock photos across enterprises (hashes written later)
    counts = s["photo_count"].to_numpy()
    stock = _hex_ids(rng, 40)
    wp = cfg.world
    reuse = (rng.random(m) < np.where(fabk, wp.fabricated_photo_reuse, 0.002)) & (counts > 0)
    s["_stock_photo"] = np.where(reuse, stock[rng.integers(0, len(stock), m)], None)
    # check-ins near the enterprise; fabricated records sometimes check in far away
    elat = rep["_true_lat"].to_numpy()[pol]
    elon = rep["_true_lon"].to_numpy()[pol]
    has_loc = ~np.isnan(rep["_lat"].to_numpy()[pol])
    checkin = rng.random(m) < wp.checkin_coverage
    far = checkin & has_loc & (rng.random(m) < np.where(fabk, wp.fabricated_far_checkin, 0.002))
    dlat = np.where(far, rng.choice([-1, 1], m) * rng.uniform(0.15, 1.2, m), np.clip(rng.normal(0, 0.002, m), -0.008, 0.008))
    dlon = np.where(far, rng.choice([-1, 1], m) * rng.uniform(0.15, 1.2, m), np.clip(rng.normal(0, 0.002, m), -0.008, 0.008))
    s["checkin_lat"] = np.where(checkin, np.round(elat + dlat, 6), np.nan)
    s["checkin_lon"] = np.where(checkin, np.round(elon + dlon, 6), np.nan)
    s["_far"] = far
    # report summaries: specific text for real work, agency boilerplate on fabricated records
    has_text = rng.random(m) < wp.report_text_coverage
    names = pa.array(rep["enterprise_name"].to_numpy()[pol], pa.string())

    def pick(words):
        return pc.take(pa.array(list(words), pa.string()), pa.array(rng.integers(0, len(words), m)))

    def lit(x):
        return pa.scalar(x, pa.string())

    text = pc.binary_join_element_wise(
        names, lit("第"), pick(AREAS), lit("区"), pick(_PLACES), lit("发现"), pick(_HAZARDS), lit("，"), pick(_MEASURES),
        lit("，复查人"), pick(_PEOPLE), pick(_ROLES), lit("，"), pick(_PLACES), pick(_HAZARDS), lit("一并整改"), "",
    ).to_numpy(zero_copy_only=False)
    boiler = has_text & fabk & (rng.random(m) < wp.fabricated_boilerplate)
    if wp.boilerplate_providers > 0:  # some providers paste their boilerplate into genuine reports as well
        prov = s["_pool"].to_numpy()
        keys, inv = np.unique(prov.astype(str), return_inverse=True)
        pasting = rng.random(len(keys)) < wp.boilerplate_providers
        genuine = np.isin(s["_kind"].to_numpy(), ["adequate", "poor_quality"])
        boiler |= has_text & genuine & pasting[inv] & (rng.random(m) < wp.boilerplate_genuine_share)
    bk = rng.integers(0, len(BOILERPLATE), m)
    btext = pc.binary_join_element_wise(
        names, lit("："), pc.take(pa.array(BOILERPLATE), pa.array(bk)), lit("（共"), pa.array(rng.integers(1, 9, m).astype(str)), lit("项）"), "",
    ).to_numpy(zero_copy_only=False)
    s["report_summary"] = np.where(has_text, np.where(boiler, btext, text), None)
    s["_boiler"] = np.where(boiler, bk, -1)
    if wp.group_training > 0:
        _group_trainings(np.random.default_rng([cfg.seed, 4242]), wp.group_training, s, rep)


def _group_trainings(rng, share: float, s: pd.DataFrame, rep: pd.DataFrame) -> None:
    """Genuine trainings held for several enterprises at once: a provider's session in one month
    leaves the same photo and the same report text on every enterprise's record. Real work that
    looks like the traces of fabrication (a photo at many enterprises, boilerplate) — its own
    random stream, so a world without it is unchanged."""
    genuine = np.isin(s["_kind"].to_numpy(), ["adequate", "poor_quality"])
    train = genuine & (s["service_item"].to_numpy() == "training") & (rng.random(len(s)) < share)
    idx = np.flatnonzero(train)
    if not len(idx):
        return
    month = pd.Series(s["service_date"].to_numpy()[idx]).dt.to_period("M").astype(str).to_numpy()
    session = pd.Series(s["_pool"].to_numpy()[idx].astype(str)) + "|" + month
    codes, keys = pd.factorize(session)
    photos = _hex_ids(rng, len(keys))
    has_photo = s["photo_count"].to_numpy()[idx] > 0
    stock = s["_stock_photo"].to_numpy().copy()
    stock[idx[has_photo]] = photos[codes[has_photo]]
    s["_stock_photo"] = stock
    bk = codes % len(BOILERPLATE)
    names = rep["enterprise_name"].to_numpy()[s["_pol"].to_numpy()[idx]]
    has_text = s["report_summary"].notna().to_numpy()[idx]
    text = s["report_summary"].to_numpy().copy()
    text[idx[has_text]] = names[has_text] + "：" + np.asarray(BOILERPLATE, dtype=object)[bk[has_text]] + "（集中培训）"
    s["report_summary"] = text
    boiler = s["_boiler"].to_numpy().copy()
    boiler[idx[has_text]] = len(BOILERPLATE) + bk[has_text]  # its own wording: not the providers' other boilerplate
    s["_boiler"] = boiler


def _make_staff(rng, s: pd.DataFrame):
    """Staff per service pool, sized to its workload in the submission: one person per 200 / 1.3
    (about 150) of the pool's visits over all years, at least 4."""
    g = s.groupby("_pool").agg(n=("_pool", "size"), q=("_pool_q", "first"))
    rows, pools = [], {}
    for key, (count, q) in zip(g.index, g.itertuples(index=False)):
        k = max(4, int(np.ceil(count / 200 * 1.3)))
        p_none = 0.03 + 0.3 * (1 - q)
        p = np.array([0.30, 0.15, 0.35, 0.20, 0.0]) * (1 - p_none)
        p[-1] = p_none
        ids = np.array([f"S{key}{i + 1:04d}" for i in range(k)], dtype=object)
        quals = _choice(rng, QUALIFICATIONS, p, k)
        years = rng.integers(0, 25, k)
        agency = key if str(key).startswith("AG") else None
        rows.append(pd.DataFrame({"staff_id": ids, "agency_id": agency, "qualification": quals, "years_experience": years}))
        pools[key] = ids
    return pd.concat(rows, ignore_index=True), pools


def _dedupe_staff_days(rng, s: pd.DataFrame, pools: dict):
    """At most three services per staff member and day: natural days stay within 12 hours."""
    for _ in range(50):
        long = pd.DataFrame(
            {
                "i": np.tile(np.arange(len(s)), 2),
                "staff": np.concatenate([s["_staff1"].to_numpy(), s["_staff2"].to_numpy()]),
                "date": np.tile(s["service_date"].to_numpy(), 2),
                "slot": np.repeat([1, 2], len(s)),
            }
        ).dropna(subset=["staff"])
        over = long[long.groupby(["staff", "date"]).cumcount().to_numpy() >= 3]
        if over.empty:
            return
        for slot in (1, 2):
            idx = over.loc[over["slot"] == slot, "i"].to_numpy()
            col = s.columns.get_loc(f"_staff{slot}")
            keys = s["_pool"].to_numpy()[idx]
            s.iloc[idx, col] = [pools[k][rng.integers(0, len(pools[k]))] for k in keys]
        same = s["_staff1"].to_numpy() == s["_staff2"].to_numpy()
        s.loc[same, "_staff2"] = None
    raise RuntimeError("could not spread staff over days; pools are too small")


def _staff_ids(s: pd.DataFrame) -> np.ndarray:
    two = s["_staff2"].notna().to_numpy()
    return np.where(two, s["_staff1"].astype(str) + ";" + s["_staff2"].astype(str), s["_staff1"].astype(str))


def _pick(rng, mask: np.ndarray, k: int) -> np.ndarray:
    idx = np.flatnonzero(mask)
    return rng.choice(idx, size=min(k, len(idx)), replace=False) if len(idx) else idx


def _plant_policies(rng, cfg: Config, p: pd.DataFrame) -> dict[str, np.ndarray]:
    """Plant policy-level violations on disjoint random policies; return positions per code."""
    n = len(p)
    k = max(3, int(round(cfg.violation_rate * n)))
    used = np.zeros(n, dtype=bool)
    post = p["start_date"].to_numpy() >= CUTOVER
    planted: dict[str, np.ndarray] = {}

    def take(code, mask):
        idx = _pick(rng, mask & ~used, k)
        used[idx] = True
        planted[code] = idx
        return idx

    i = take("LIMIT_DEATH_BELOW_FLOOR", np.ones(n, bool))
    p.loc[i, "death_limit_per_person"] = np.where(post[i], 300000.0, 200000.0)
    p.loc[i, "medical_limit_per_person"] = p.loc[i, "death_limit_per_person"] * 0.1
    i = take("LIMIT_STRUCTURE_INCONSISTENT", np.ones(n, bool))
    p.loc[i, "aggregate_limit"] = p.loc[i, "per_accident_limit"] * 0.5
    i = take("COVERAGE_SCOPE_MISSING", np.ones(n, bool))
    covers = ["covers_third_party", "covers_rescue", "covers_medical_rescue", "covers_appraisal_legal", "covers_employees"]
    for j, c in zip(i, rng.choice(covers, size=len(i))):
        p.loc[j, c] = False
    i = take("PREMIUM_INCONSISTENT", np.ones(n, bool))
    p.loc[i, "premium"] = np.round(p.loc[i, "premium"] * rng.choice([1.25, 1.5], size=len(i)), 2)
    i = take("PREMIUM_CHARGED_TO_EMPLOYEES", np.ones(n, bool))
    p.loc[i, "premium_charged_to_employees"] = True
    i = take("RATE_FACTOR_INCONSISTENT_WITH_RECORD", np.ones(n, bool))
    p.loc[i, "accidents_prev_year"] = rng.integers(1, 3, len(i))
    p.loc[i, "rate_factor"] = np.round(rng.uniform(0.85, 0.97, len(i)), 3)
    i = take("RATE_FACTOR_OUT_OF_BAND", p["accidents_prev_year"].to_numpy() == 0)
    p.loc[i, "rate_factor"] = rng.choice([0.6, 1.4], size=len(i))
    # the factor alone is out of band; the effective rate (base x factor) stays at the peer median
    p.loc[i, "base_rate"] = np.round(p.loc[i, "_median_rate"] / p.loc[i, "rate_factor"], 8)
    # rate outliers only where the peer group is large enough to judge
    peers = p.groupby(["industry", "premium_base_type", p["region_code"].str[:2]])["policy_id"].transform("size").to_numpy()
    i = take("RATE_OUTLIER", peers >= 45)
    p.loc[i, "base_rate"] = p.loc[i, "_median_rate"] * rng.choice([6.0, 1 / 6.0], size=len(i))
    touched = np.zeros(n, bool)
    touched[np.concatenate([planted["RATE_FACTOR_INCONSISTENT_WITH_RECORD"], planted["RATE_FACTOR_OUT_OF_BAND"], planted["RATE_OUTLIER"]])] = True
    _reprice(p, touched)
    i = take("COMMISSION_ABOVE_CAP", post & p["broker_id"].notna().to_numpy())
    p.loc[i, "commission_rate"] = np.round(rng.uniform(0.08, 0.15, len(i)), 3)
    i = take("PREVENTION_FEE_ACCOUNT_IMPROPER", np.ones(n, bool))
    p.loc[i, "prevention_fee_account"] = rng.choice(["government", "government_designated"], size=len(i))
    i = take("PREVENTION_FEE_ABOVE_CAP", post)
    p.loc[i, "prevention_fee"] = np.round(p.loc[i, "premium"] * rng.uniform(0.25, 0.35, len(i)), 2)
    i = take("PREVENTION_FEE_MISSING", np.ones(n, bool))
    p.loc[i, "prevention_fee"] = 0.0
    # keep the fee cap honest everywhere else after repricing
    cap = post & ~np.isin(np.arange(n), planted["PREVENTION_FEE_ABOVE_CAP"])
    p.loc[cap, "prevention_fee"] = np.minimum(p.loc[cap, "prevention_fee"], np.floor(p.loc[cap, "premium"] * 0.205 * 100) / 100)
    return planted


def _plant_market(rng, p: pd.DataFrame) -> list[tuple[str, str]]:
    """Monopoly patterns of 通知61号 (一) in chosen prefectures."""
    out = []
    reg = p["region_code"].to_numpy()
    post = p["start_date"].to_numpy() >= CUTOVER
    # an "exclusive" broker in 石嘴山, the case that prompted the notice
    m = np.flatnonzero((reg == "640200") & (rng.random(len(p)) < 0.9))
    p.loc[m, "broker_id"] = "BK6402001"
    need = p.loc[m, "commission_rate"].isna().to_numpy()
    p.loc[m[need], "commission_rate"] = np.round(np.where(post[m[need]], rng.uniform(0.01, 0.05, need.sum()), rng.uniform(0.02, 0.1, need.sum())), 3)
    out.append(("MARKET_BROKER_EXCLUSIVE", "640200"))
    # one co-insurance group holding a prefecture
    m = np.flatnonzero((reg == "140200") & (rng.random(len(p)) < 0.9))
    p.loc[m, "coinsurance_group"] = "GB140200A"
    out.append(("MARKET_COINSURANCE_EXCLUSIVE", "140200"))
    # one insurer dominating the largest prefecture x industry cell elsewhere
    cells = p[~np.isin(reg, ["640200", "140200"])].groupby(["region_code", "industry"]).size()
    region, industry = cells.idxmax()
    m = np.flatnonzero((reg == region) & (p["industry"].to_numpy() == industry) & (rng.random(len(p)) < 0.85))
    top = p.loc[m, "insurer_id"].mode().iloc[0]
    p.loc[m, "insurer_id"] = top
    p.loc[m, "insurer_name"] = dict(ALL_INSURERS)[top]
    out.append(("MARKET_CONCENTRATION", region))
    return out


def _plant_services(rng, cfg: Config, s: pd.DataFrame, p: pd.DataFrame, snapshot) -> dict[str, np.ndarray]:
    m = len(s)
    k = max(3, int(round(cfg.violation_rate * m / 4)))
    used = np.zeros(m, dtype=bool)
    planted = {}

    def take(code, mask):
        idx = _pick(rng, mask & ~used, k)
        used[idx] = True
        planted[code] = idx
        return idx

    pol = s["_pol"].to_numpy()
    start = p["start_date"].to_numpy()[pol]
    end = p["end_date"].to_numpy()[pol]
    i = take("SERVICE_OUTSIDE_PERIOD", np.ones(m, bool))
    shift = _days(rng.integers(10, 60, len(i)))
    after = end[i] + shift
    new = np.where(after <= snapshot - _days(20), after, start[i] - shift)
    delta = new - s["service_date"].to_numpy()[i]
    for c in ("service_date", "report_date", "followup_date"):
        s.loc[s.index[i], c] = s[c].to_numpy()[i] + delta
    i = take("SERVICE_REPORT_BEFORE_SERVICE", np.ones(m, bool))
    s.loc[s.index[i], "report_date"] = s["service_date"].to_numpy()[i] - _days(rng.integers(1, 10, len(i)))
    i = take("SERVICE_FOLLOWUP_BEFORE_SERVICE", s["hazards_found"].to_numpy() > 0)
    s.loc[s.index[i], "followup_date"] = s["service_date"].to_numpy()[i] - _days(rng.integers(1, 10, len(i)))
    i = take("SERVICE_UNKNOWN_STAFF", np.ones(m, bool))
    s.loc[s.index[i], "_staff1"] = np.char.add("SX", rng.integers(10000, 99999, len(i)).astype(str)).astype(object)
    # duplicated photos across enterprises: pairs share a fresh hash
    i = take("INTEGRITY_DUPLICATE_PHOTO", s["photo_count"].to_numpy() > 0)
    shared = _hex_ids(rng, max(1, len(i) // 2 + 1))
    s.loc[s.index[i], "_stock_photo"] = shared[np.arange(len(i)) // 2]
    # check-ins far from the site
    i = take("INTEGRITY_CHECKIN_FAR", s["checkin_lat"].notna().to_numpy() & p["_lat"].notna().to_numpy()[pol])
    s.loc[s.index[i], "checkin_lat"] = s["checkin_lat"].to_numpy()[i] + rng.choice([-1, 1], len(i)) * rng.uniform(0.2, 1.0, len(i))
    s.loc[s.index[i], "_far"] = True
    return planted


def _plant_boilerplate(rng, s: pd.DataFrame, p: pd.DataFrame) -> None:
    """One provider files the same boilerplate report for six enterprises."""
    prov = s["agency_id"].fillna(pd.Series("I:" + p["insurer_id"].to_numpy()[s["_pol"].to_numpy()], index=s.index))
    ent = p["enterprise_id"].to_numpy()[s["_pol"].to_numpy()]
    counts = pd.Series(ent).groupby(prov.to_numpy()).nunique()
    chosen = counts[counts >= 6].index
    if len(chosen) == 0:
        return
    target = chosen[rng.integers(0, len(chosen))]
    rows = pd.DataFrame({"i": np.arange(len(s)), "ent": ent})[prov.to_numpy() == target]
    pick = rows.groupby("ent")["i"].first().sample(6, random_state=np.random.RandomState(int(rng.integers(1 << 31)))).to_numpy()
    names = p["enterprise_name"].to_numpy()[s["_pol"].to_numpy()[pick]]
    s.loc[s.index[pick], "report_summary"] = names + "：" + BOILERPLATE[0] + "（共" + rng.integers(1, 9, len(pick)).astype(str).astype(object) + "项）"
    s.loc[s.index[pick], "_boiler"] = 0


def _plant_staff_overlap(rng, cfg: Config, s: pd.DataFrame, p: pd.DataFrame, snapshot) -> pd.DataFrame:
    """Append pairs of services: one staff member, one day, two enterprises far apart, 14 hours."""
    n_pairs = min(300, max(2, int(round(cfg.violation_rate * len(s) / 8))))
    prov = p["region_code"].str[:2].to_numpy()
    year = p["year"].to_numpy()
    start = p["start_date"].to_numpy()
    end = p["end_date"].to_numpy()
    first_of = pd.Series(np.arange(len(s))).groupby(s["_pol"].to_numpy()).first()
    served = first_of.index.to_numpy()
    rows = []
    for _ in range(n_pairs):
        a = served[rng.integers(0, len(served))]
        cand = served[(year[served] == year[a]) & (prov[served] != prov[a])]
        if len(cand) == 0:
            continue
        b = cand[rng.integers(0, len(cand))]
        d = max(start[a], start[b]) + np.timedelta64(1, "D")
        if d > min(end[a], end[b]) or d > snapshot - np.timedelta64(20, "D"):
            continue
        staff = s["_staff1"].iloc[first_of[a]]
        for pol in (a, b):
            r = s.iloc[first_of[pol]].copy()
            r["service_date"] = d
            r["report_date"] = d + np.timedelta64(2, "D")
            r["followup_date"] = np.datetime64("NaT")
            r["hazards_found"] = 0
            r["hazards_rectified"] = 0
            r["onsite_hours"] = 7.0
            r["_staff1"], r["_staff2"] = staff, None
            r["enterprise_signed"] = True
            r["_stock_photo"] = None
            r["_far"] = False
            r["_boiler"] = -1
            r["report_summary"] = None
            r["checkin_lat"] = p["_true_lat"].iloc[pol] if not np.isnan(p["_lat"].iloc[pol]) else np.nan
            r["checkin_lon"] = p["_true_lon"].iloc[pol] if not np.isnan(p["_lat"].iloc[pol]) else np.nan
            r["_overlap"] = True
            rows.append(r)
    s["_overlap"] = False
    if rows:
        s = pd.concat([s, pd.DataFrame(rows)], ignore_index=True)
    return s


def _finish_photos(rng, cfg: Config, s: pd.DataFrame) -> None:
    counts = s["photo_count"].to_numpy().astype(np.int64)
    total = int(counts.sum())
    hashes = _hex_ids(rng, total)
    firsts = np.cumsum(counts) - counts
    stock = s["_stock_photo"].to_numpy()
    has = pd.notna(stock) & (counts > 0)
    hashes[firsts[has]] = stock[has]
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(hashes, pa.string()))
    joined = pc.binary_join(lists, ";").to_numpy(zero_copy_only=False)
    with_hashes = counts > 0
    if cfg.world.photo_hash_coverage < 1:  # some systems keep photo counts but submit no hashes
        with_hashes &= rng.random(len(s)) < cfg.world.photo_hash_coverage
    s["photo_hashes"] = np.where(with_hashes, joined, None)


def _truth(cfg: Config, p: pd.DataFrame, s: pd.DataFrame, staff: pd.DataFrame, planted_p, planted_s, market, as_of) -> pd.DataFrame:
    """Every violation the generator made, judged at ``as_of`` with the shipped rulebook's parameters."""
    rows = []

    def add(code, scope, pol_idx=None, svc_idx=None, region=None, insurer=None):
        if pol_idx is not None:
            pol_idx = np.asarray(pol_idx, dtype=np.int64)
            rows.append(pd.DataFrame({"rule_code": code, "scope": scope, "policy_id": p["policy_id"].to_numpy()[pol_idx], "service_id": None}))
        if svc_idx is not None:
            svc_idx = np.asarray(svc_idx, dtype=np.int64)
            rows.append(pd.DataFrame({"rule_code": code, "scope": scope, "policy_id": s["policy_id"].to_numpy()[svc_idx], "service_id": s["service_id"].to_numpy()[svc_idx]}))
        if region is not None:
            rows.append(pd.DataFrame({"rule_code": [code], "scope": ["region"], "region_code": [region]}))
        if insurer is not None:
            rows.append(pd.DataFrame({"rule_code": code, "scope": "insurer", "insurer_id": np.asarray(insurer, dtype=object)}))

    for code, idx in planted_p.items():
        add(code, "policy", pol_idx=idx)
    for code, idx in planted_s.items():
        if code not in ("INTEGRITY_DUPLICATE_PHOTO", "INTEGRITY_CHECKIN_FAR"):
            add(code, "service", svc_idx=idx)
    for code, region in market:
        add(code, "region", region=region)
    # the record-level conditions the quality model makes (no services, too few, no report, late,
    # unsigned, no photos, under-spend ...) are told by their rules' kinds (:func:`_tell`)
    pol = s["_pol"].to_numpy()
    n = len(p)
    ended = p["end_date"].to_numpy() < as_of
    spend = np.bincount(pol, weights=s["cost"].to_numpy(), minlength=n)
    fee = p["prevention_fee"].to_numpy()
    sd = s["service_date"].to_numpy()
    qual = staff.set_index("staff_id")["qualification"]
    q1 = s["_staff1"].map(qual)
    q2 = s["_staff2"].map(qual)
    unq = (q1 == "none") & (s["_staff2"].isna() | (q2 == "none"))
    add("SERVICE_UNQUALIFIED_STAFF", "service", svc_idx=np.flatnonzero(unq.to_numpy()))
    # integrity: shared photos across enterprises, far check-ins, boilerplate, overlapping staff days
    ent = p["enterprise_id"].to_numpy()[pol]
    stock = s["_stock_photo"]
    has = stock.notna().to_numpy() & (s["photo_count"].to_numpy() > 0) & s["photo_hashes"].notna().to_numpy()  # hashes submitted
    by_hash = pd.Series(ent[has]).groupby(stock.to_numpy()[has]).nunique()
    shared = set(by_hash[by_hash >= 2].index)
    add("INTEGRITY_DUPLICATE_PHOTO", "service", svc_idx=np.flatnonzero(has & stock.isin(shared).to_numpy()))
    add("INTEGRITY_CHECKIN_FAR", "service", svc_idx=np.flatnonzero(s["_far"].to_numpy().astype(bool)))
    prov = s["agency_id"].fillna(pd.Series("I:" + p["insurer_id"].to_numpy()[pol], index=s.index)).to_numpy()
    bk = s["_boiler"].to_numpy()
    b = bk >= 0
    key = pd.Series(prov[b].astype(str)) + "|" + pd.Series(bk[b].astype(str))
    ents = pd.Series(ent[b]).groupby(key.to_numpy()).nunique()
    hit = key.isin(set(ents[ents >= 5].index)).to_numpy()
    add("INTEGRITY_DUPLICATE_REPORT", "service", svc_idx=np.flatnonzero(b)[hit])
    ov = np.flatnonzero(s["_overlap"].to_numpy())
    if len(ov):
        days = pd.DataFrame({"st": s["_staff1"].to_numpy()[ov], "d": sd[ov]}).drop_duplicates()
        both = pd.DataFrame({"i": np.tile(np.arange(len(s)), 2), "st": np.concatenate([s["_staff1"].to_numpy(), s["_staff2"].to_numpy()]), "d": np.tile(sd, 2)})
        hit = both.merge(days, on=["st", "d"])["i"].to_numpy()
        add("INTEGRITY_STAFF_OVERLAP", "service", svc_idx=np.unique(hit))
    truth = pd.concat(rows, ignore_index=True)
    rows = [truth]
    # insurer level: integrity on >= 5% of its policies, or spend < 50% of the fee of its ended policies
    integ = truth[truth["rule_code"].str.startswith("INTEGRITY_")]["policy_id"].unique()
    pol_int = p["policy_id"].isin(integ)
    share = pol_int.groupby(p["insurer_id"]).mean()
    e = pd.DataFrame({"ins": p["insurer_id"], "spend": spend, "fee": fee})[ended]
    ratio = e.groupby("ins")["spend"].sum() / e.groupby("ins")["fee"].sum()
    bad = set(share[share >= 0.05].index) | set(ratio[ratio < 0.5].index)
    add("INSURER_BLACKLIST_CANDIDATE", "insurer", insurer=sorted(bad))
    truth = pd.concat(rows, ignore_index=True)
    for c in ("policy_id", "service_id", "region_code", "insurer_id"):
        if c not in truth:
            truth[c] = None
    truth = truth[["rule_code", "scope", "policy_id", "service_id", "insurer_id", "region_code"]]
    return truth.drop_duplicates().sort_values(["rule_code", "policy_id", "service_id", "insurer_id", "region_code"], kind="stable").reset_index(drop=True)


#: Accidents a year per policy by industry, the rate the declared ``accidents_prev_year`` follows
#: (``_pricing``): 8% where work is most dangerous, 4% elsewhere. *assumption*
def _accident_rate(industry: np.ndarray) -> np.ndarray:
    return np.where(np.isin(industry, ["coal_mining", "non_coal_mining", "fireworks", "construction"]), 0.08, 0.04)


def _claims(cfg: Config, p: pd.DataFrame, snapshot) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Accidents and their claims, consistent with the accident history the policies declare.

    Drawn with a random stream of their own, so the other tables do not change. A policy renewed
    by the same enterprise has exactly the accidents (and deaths) its renewal declares for the
    year before, dated in that year; a policy not renewed in the data draws them at its
    industry's rate. Each accident is reported within 0-10 days; 93% are paid (closed 5-50 days
    after the report), 5% denied and 2% withdrawn; those reported in the last 60 days before the
    snapshot are still open with a reserve. Deaths cost the per-person death limit, injuries a
    share of the medical limit, some accidents third-party damage. *assumption*

    Planted (truth returned as frames): understated histories, one overpriced cell (its claims
    removed), one underpriced cell (claims tripled), slow settlements and claims open too long.
    """
    rng = np.random.default_rng([cfg.seed, 2018])
    n = len(p)
    start = p["start_date"].to_numpy().astype("datetime64[D]")
    end = p["end_date"].to_numpy().astype("datetime64[D]")
    snap = np.datetime64(snapshot, "D")
    # the renewal of each policy: the same enterprise's next policy, starting within 30 days of its end
    order = np.lexsort((start, p["enterprise_id"].to_numpy()))
    ent = p["enterprise_id"].to_numpy()[order]
    nxt = np.full(n, -1)
    same = ent[1:] == ent[:-1]
    nxt[order[:-1][same]] = order[1:][same]
    renewed = nxt >= 0
    renewed[renewed] &= (start[nxt[renewed]] - end[renewed]).astype(np.int64) <= 30
    k = np.where(renewed, p["accidents_prev_year"].to_numpy()[np.maximum(nxt, 0)],
                 rng.poisson(_accident_rate(p["industry"].to_numpy())))
    deaths = np.where(renewed, p["deaths_prev_year"].to_numpy()[np.maximum(nxt, 0)], rng.binomial(k, 0.3))
    lo = np.where(renewed, np.maximum(start, start[np.maximum(nxt, 0)] - np.timedelta64(365, "D")), start)
    hi = np.minimum(np.where(renewed, np.minimum(end, start[np.maximum(nxt, 0)] - np.timedelta64(1, "D")), end), snap - np.timedelta64(1, "D"))
    k = np.where(hi >= lo, k, 0)
    deaths = np.minimum(deaths, np.where(k > 0, 100, 0))  # no accident in the data, no death either
    truth: list[pd.DataFrame] = []
    # understated history: a renewal that declares no accident, whose policy had one
    eligible = np.flatnonzero(renewed & (k == 0) & (hi >= lo) & (p["accidents_prev_year"].to_numpy()[np.maximum(nxt, 0)] == 0))
    m = max(1, int(round(cfg.violation_rate * len(eligible)))) if len(eligible) else 0
    under = rng.choice(eligible, size=m, replace=False) if m else np.array([], dtype=np.int64)
    k[under] = 1
    deaths[under] = 0
    understated = pd.DataFrame({"rule_code": "ACCIDENT_HISTORY_UNDERSTATED", "scope": "policy",
                                "policy_id": p["policy_id"].to_numpy()[nxt[under]], "_pol": under})
    truth.append(understated)
    pol = np.repeat(np.arange(n), k)
    span = (hi[pol] - lo[pol]).astype(np.int64) + 1
    acc_date = lo[pol] + np.floor(rng.random(len(pol)) * span).astype("timedelta64[D]")
    # deaths spread over the policy's accidents
    d = np.zeros(len(pol), dtype=np.int64)
    first = np.r_[0, np.cumsum(k)[:-1]]
    for i in np.flatnonzero((deaths > 0) & (k > 0)):
        np.add.at(d, first[i] + rng.integers(0, k[i], deaths[i]), 1)
    c = pd.DataFrame({"_pol": pol, "accident_date": acc_date, "deaths": d, "injuries": rng.poisson(1.2, len(pol)) + (d == 0)})
    # cells: one overpriced (claims removed), one underpriced (claims tripled), among cells of 60+ policies
    year = p["year"].to_numpy()
    cell = pd.DataFrame({"ins": p["insurer_id"].to_numpy(), "ind": p["industry"].to_numpy(),
                         "prov": p["region_code"].astype(str).str[:2].to_numpy(), "year": year})
    # a cell's expected accidents: the loss-ratio rules need 30+ policies and enough expected claims
    # for a one-sided Poisson test at 1% (more than 4.6), so plants go only where they could be seen
    cell["rate"] = _accident_rate(p["industry"].to_numpy())
    g = cell.groupby(["ins", "ind", "prov", "year"])
    size, expected = g.size(), g["rate"].sum()
    big = size[(size >= 40) & (expected >= 6)]
    if len(big):
        early = big[big.index.get_level_values("year") < cfg.last_year]
        if len(early):
            over = early.sort_values(ascending=False, kind="stable").index[0]
            members = g.indices[over]
            c = c[~np.isin(c["_pol"].to_numpy(), members)]
            truth[0] = understated[~np.isin(understated["_pol"].to_numpy(), members)]  # their claims went with the cell
            truth.append(pd.DataFrame({"rule_code": ["LOSS_RATIO_EXCESSIVE_RATE"], "scope": ["insurer"],
                                       "insurer_id": [over[0]], "region_code": [over[2] + "0000"]}))
        last = big[(big.index.get_level_values("year") == cfg.last_year)]
        if len(last):
            under_cell = last.sort_values(ascending=False, kind="stable").index[0]
            members = g.indices[under_cell]
            # policies of the last year have no renewal in the data: more accidents contradict no declaration
            lam = 2.5 * _accident_rate(p["industry"].to_numpy()[members]) * 6
            extra = np.repeat(members, rng.poisson(lam))
            ok = end[extra] >= start[extra]
            extra = extra[ok & (np.minimum(end[extra], snap - np.timedelta64(1, "D")) >= start[extra])]
            lo_e, hi_e = start[extra], np.minimum(end[extra], snap - np.timedelta64(1, "D"))
            dates = lo_e + np.floor(rng.random(len(extra)) * ((hi_e - lo_e).astype(np.int64) + 1)).astype("timedelta64[D]")
            c = pd.concat([c, pd.DataFrame({"_pol": extra, "accident_date": dates, "deaths": rng.binomial(1, 0.3, len(extra)),
                                            "injuries": rng.poisson(1.2, len(extra)) + 1})], ignore_index=True)
            truth.append(pd.DataFrame({"rule_code": ["LOSS_RATIO_INADEQUATE_RATE"], "scope": ["insurer"],
                                       "insurer_id": [under_cell[0]], "region_code": [under_cell[2] + "0000"]}))
    c = c.sort_values(["accident_date", "_pol"], kind="stable").reset_index(drop=True)
    m = len(c)
    pl = c["_pol"].to_numpy()
    report = c["accident_date"].to_numpy() + rng.integers(0, 11, m).astype("timedelta64[D]")
    report = np.minimum(report, snap)
    status = _choice(rng, ["paid", "denied", "withdrawn"], [0.93, 0.05, 0.02], m).astype(object)
    close = report + rng.integers(5, 51, m).astype("timedelta64[D]")
    # slow settlements and claims left open: planted on paid claims reported well before the snapshot
    old = np.flatnonzero((status == "paid") & (report < snap - np.timedelta64(400, "D")))
    n_slow = min(len(old), max(1, int(round(cfg.violation_rate * 2 * m)))) if len(old) else 0
    slow = rng.choice(old, size=n_slow, replace=False) if n_slow else np.array([], dtype=np.int64)
    close[slow] = report[slow] + rng.integers(90, 200, len(slow)).astype("timedelta64[D]")
    rest = np.setdiff1d(old, slow)
    n_open = min(len(rest), max(1, int(round(cfg.violation_rate * 2 * m)))) if len(rest) else 0
    stale = rng.choice(rest, size=n_open, replace=False) if n_open else np.array([], dtype=np.int64)
    recent = report > snap - np.timedelta64(60, "D")
    is_open = (recent & (status == "paid") & (close > snap)) | np.isin(np.arange(m), stale)
    status[is_open] = "open"
    death_lim = p["death_limit_per_person"].to_numpy(dtype=float)[pl]
    med_lim = p["medical_limit_per_person"].to_numpy(dtype=float)[pl]
    cost = (c["deaths"].to_numpy() * death_lim * rng.uniform(0.9, 1.0, m)
            + c["injuries"].to_numpy() * med_lim * rng.uniform(0.1, 0.6, m)
            + (rng.random(m) < 0.2) * rng.uniform(2e4, 2e5, m))
    cost = np.round(cost, 2)
    paid = np.where(status == "paid", cost, 0.0)
    reserve = np.where(status == "open", np.round(cost * rng.uniform(0.8, 1.2, m), 2), 0.0)
    closed = np.where(status == "open", np.datetime64("NaT"), np.minimum(close, snap).astype("datetime64[D]"))
    level = np.where(c["deaths"].to_numpy() >= 3, "larger", "general").astype(object)
    claims = pd.DataFrame({
        "claim_id": [f"CL{cfg.world.entity_tag}{i + 1:09d}" for i in range(m)],
        "policy_id": p["policy_id"].to_numpy()[pl],
        "accident_date": c["accident_date"].to_numpy().astype("datetime64[s]"),
        "report_date": report.astype("datetime64[s]"),
        "accident_level": level, "deaths": c["deaths"].to_numpy(), "injuries": c["injuries"].to_numpy(),
        "status": status, "paid_amount": paid, "reserve_amount": reserve,
        "closed_date": closed.astype("datetime64[s]"),
        "denial_reason": np.where(status == "denied", "不属于保险责任范围", None),
    })
    slow_ids = claims["policy_id"].to_numpy()[slow]
    stale_ids = claims["policy_id"].to_numpy()[stale]
    truth[0] = truth[0].drop(columns="_pol")
    truth.append(pd.DataFrame({"rule_code": "CLAIM_SETTLEMENT_SLOW", "scope": "policy", "policy_id": slow_ids}))
    truth.append(pd.DataFrame({"rule_code": "CLAIM_OPEN_TOO_LONG", "scope": "policy", "policy_id": stale_ids}))
    return claims, truth


def _inspections(rng, cfg: Config, p: pd.DataFrame, s: pd.DataFrame, snapshot) -> pd.DataFrame:
    """Labels: risk-targeted inspections of ended policies, plus a random audit slice."""
    n = len(p)
    eligible = p["end_date"].to_numpy() <= snapshot - np.timedelta64(30, "D")
    pol = s["_pol"].to_numpy()
    count = np.bincount(pol, minlength=n)
    spend = np.bincount(pol, weights=s["cost"].to_numpy(), minlength=n) / np.maximum(p["prevention_fee"].to_numpy(), 1)
    # what a regulator can see: few services, low spend, complaints about the insurer, chance
    ins_rate = pd.Series(p["_quality"].to_numpy() == 2).groupby(p["insurer_id"].to_numpy()).transform("mean").to_numpy()
    visible = -0.6 * _zscore(count) - 0.5 * _zscore(spend) + 0.3 * _zscore(ins_rate)
    risk = cfg.world.targeting * visible + rng.normal(0, 1.0, n)
    chosen = np.zeros(n, dtype=bool)
    rand = np.zeros(n, dtype=bool)
    for y in np.unique(p["year"].to_numpy()):
        idx = np.flatnonzero(eligible & (p["year"].to_numpy() == y))
        if len(idx) == 0:
            continue
        k_t = int(round(cfg.inspected_targeted * len(idx)))
        top = idx[np.argsort(-risk[idx], kind="stable")[:k_t]]
        chosen[top] = True
        rest = idx[~chosen[idx]]
        k_r = min(len(rest), int(round(cfg.inspected_random * len(idx))))
        rnd = rng.choice(rest, size=k_r, replace=False)
        chosen[rnd] = True
        rand[rnd] = True
    idx = np.flatnonzero(chosen)
    q = p["_quality"].to_numpy()[idx]
    err = rng.random(len(idx)) < cfg.inspector_error
    neighbour = np.where(q == 1, rng.choice([0, 2], len(idx)), 1)
    outcome = np.where(err, neighbour, q)
    date = p["end_date"].to_numpy()[idx] + _days(rng.integers(15, 200, len(idx)))
    date = np.minimum(date, snapshot)
    orgs = np.array(["中安评价咨询有限公司", "安泰安全技术服务有限公司", "国信安全评估中心", "华诚安全科技有限公司"], dtype=object)
    order = np.argsort(date, kind="stable")
    idx, outcome, date, r = idx[order], outcome[order], date[order], rand[idx][order]
    return pd.DataFrame(
        {
            "inspection_id": [f"INSP{cfg.world.entity_tag}{i + 1:08d}" for i in range(len(idx))],
            "policy_id": p["policy_id"].to_numpy()[idx],
            "inspection_date": date,
            "inspector_org": orgs[rng.integers(0, len(orgs), len(idx))],
            "outcome": QUALITY[outcome],
            "notes": None,
            "selection": np.where(r, "random", "targeted"),
        }
    )


def generate(cfg: Config = Config()) -> World:
    """Generate a world for ``cfg``; deterministic for ``cfg.seed``."""
    from scoring.submission.intake import latest_date

    rng = np.random.default_rng(cfg.seed)
    snapshot = np.datetime64(cfg.snapshot)
    diligence, presence, agencies, agency_q, brokers = _market(rng, cfg)
    ent = _enterprises(rng, cfg, presence)
    p = _policies(rng, cfg, ent, presence, brokers, agencies)
    active = [ALL_INSURERS[i] for i in cfg.world.insurers]
    p["insurer_id"] = np.array([i[0] for i in active], dtype=object)[p["_insurer"].to_numpy()]
    p["insurer_name"] = np.array([i[1] for i in active], dtype=object)[p["_insurer"].to_numpy()]
    p["region_code"] = np.array([r[0] for r in REGIONS], dtype=object)[p["_region"].to_numpy()]
    p["policy_id"] = "P" + cfg.world.entity_tag + p["year"].astype(str) + pd.Series(np.arange(1, len(p) + 1)).map("{:07d}".format).to_numpy()
    p["standardization_grade"] = p["grade"]
    p["enterprise_lat"] = np.round(p["_lat"], 6)
    p["enterprise_lon"] = np.round(p["_lon"], 6)
    _pricing(rng, p)
    _quality(rng, cfg, p, diligence, agency_q)
    s, staff = _services(rng, cfg, p, None, agencies)
    _integrity_and_text(rng, cfg, s, p)
    planted_p = _plant_policies(rng, cfg, p)
    market = _plant_market(rng, p)
    rulebook, added = _rulebooks(cfg)
    extra = np.random.default_rng([cfg.seed, 7919])  # planting added rules leaves the world's own draws alone
    k = max(3, int(round(cfg.violation_rate * len(p))))
    free = ~np.isin(np.arange(len(p)), np.concatenate([np.asarray(i, np.int64) for i in planted_p.values()]))
    _plant_added(extra, [r for r in added if r.scope == "policy"], p, p, k, free, snapshot - np.timedelta64(20, "D"))
    s = s.sort_values(["service_date", "_pol"], kind="stable").reset_index(drop=True)
    planted_s = _plant_services(rng, cfg, s, p, snapshot)
    _plant_boilerplate(rng, s, p)
    s = _plant_staff_overlap(rng, cfg, s, p, snapshot)
    service_rules = [r for r in added if r.scope == "service"]
    if service_rules:
        pol = s["_pol"].to_numpy()
        frame = s.assign(**{c: p[c].to_numpy()[pol] for c in cases.POLICY_ON_SERVICES if c not in s})
        taken = np.concatenate([np.asarray(i, np.int64) for i in planted_s.values()])
        free = ~np.isin(np.arange(len(s)), taken) & ~s["_overlap"].to_numpy() & (s["_boiler"].to_numpy() < 0)
        _plant_added(extra, service_rules, frame, s, max(3, int(round(cfg.violation_rate * len(s) / 4))), free,
                     snapshot - np.timedelta64(20, "D"))
    s["service_id"] = "SV" + cfg.world.entity_tag + pd.Series(np.arange(1, len(s) + 1)).map("{:09d}".format).to_numpy()
    _finish_photos(rng, cfg, s)
    s["staff_ids"] = _staff_ids(s)
    insp = _inspections(rng, cfg, p, s, snapshot) if cfg.with_inspections else None
    tables = {
        "policies": p[[c.name for c in TABLES["policies"].columns]].copy(),
        "services": s[[c.name for c in TABLES["services"].columns]].copy(),
    }
    if cfg.with_staff:
        tables["staff"] = staff[[c.name for c in TABLES["staff"].columns]].copy()
    if insp is not None:
        tables["inspections"] = insp
    claim_truth = []
    if cfg.with_claims:
        tables["claims"], claim_truth = _claims(cfg, p, snapshot)
    as_of = latest_date(tables)
    truth = _truth(cfg, p, s, staff, planted_p, planted_s, market, as_of)
    if claim_truth:
        truth = pd.concat([truth, *claim_truth], ignore_index=True)
        truth = truth[["rule_code", "scope", "policy_id", "service_id", "insurer_id", "region_code"]].drop_duplicates()
        truth = truth.sort_values(["rule_code", "policy_id", "service_id", "insurer_id", "region_code"], kind="stable").reset_index(drop=True)
    if not cfg.with_staff:
        truth = truth[~truth["rule_code"].isin(["SERVICE_UNQUALIFIED_STAFF", "SERVICE_UNKNOWN_STAFF"])].reset_index(drop=True)
    truth, untold = _tell(rulebook, tables, as_of, truth)
    hidden = pd.DataFrame(
        {
            "policy_id": p["policy_id"],
            "quality": QUALITY[p["_quality"].to_numpy()],
            "fabricated": p["_fabricated"],
            "insurer_diligence": np.round(p["_diligence"], 4),
            "agency_quality": np.round(p["_agency_q"], 4),
        }
    )
    return World(tables=tables, hidden=hidden, truth=truth, as_of=as_of, config=cfg, untold=untold)


def _rulebooks(cfg: Config):
    """The rulebook whose truth is told, and its rules that the shipped rulebook does not have
    (planted by kind; the shipped rules' violations come from the world's own mechanics)."""
    from scoring.rules.book import load_rulebook

    shipped = load_rulebook()
    rulebook = load_rulebook(cfg.rulebook) if cfg.rulebook else shipped
    codes = {r.code for r in shipped.rules}
    return rulebook, [r for r in rulebook.rules if r.code not in codes]


def _plant_added(rng, rules, frame: pd.DataFrame, target: pd.DataFrame, k: int, free: np.ndarray, last_day) -> None:
    """Plant each added rule on ``k`` rows of its own, where its kind can be planted (the others
    are told from what the world's mechanics made, or left untold)."""
    free = free.copy()
    for rule in rules:
        case = cases.CASES.get(rule.kind)
        if case is None or case.plant is None:
            continue
        idx, values = cases.plant(rng, rule, frame, k, free, last_day)
        free[idx] = False
        for col, vals in values.items():
            target.loc[target.index[idx], col] = vals
            if frame is not target:
                frame.loc[frame.index[idx], col] = vals


def _tell(rulebook, tables: dict[str, pd.DataFrame], as_of, story: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """The truth of every rule of ``rulebook``: judged by its kind's case on the tables as written,
    or, for a kind whose truth only a story of the world knows, the story's rows when the rule is
    the shipped one. Codes neither can tell are returned apart."""
    from scoring.rules.book import load_rulebook

    def same(rules):
        return [r.model_dump(exclude={"name_zh", "message_zh", "message_en", "clause", "severity"}) for r in rules]

    shipped = {}
    for r in load_rulebook().rules:
        shipped.setdefault(r.code, []).append(r)
    mine = {}
    for r in rulebook.rules:
        mine.setdefault(r.code, []).append(r)
    v = cases.view(tables, as_of)
    told, untold = [], []
    for code, rules in mine.items():
        if all(r.kind in cases.CASES for r in rules):
            told.extend(cases.truth(r, v) for r in rules)
        elif code in shipped and same(rules) == same(shipped[code]):
            told.append(story[story["rule_code"] == code])
        else:
            untold.append(code)
    truth = pd.concat(told, ignore_index=True)
    for c in ("policy_id", "service_id", "region_code", "insurer_id"):
        if c not in truth:
            truth[c] = None
    truth = truth[["rule_code", "scope", "policy_id", "service_id", "insurer_id", "region_code"]].drop_duplicates()
    truth = truth.sort_values(["rule_code", "policy_id", "service_id", "insurer_id", "region_code"], kind="stable")
    return truth.reset_index(drop=True), tuple(sorted(untold))


def year_slice(world: World, years) -> World:
    """The part of ``world`` a submission covering policy ``years`` alone would hold: those
    policies, their services and inspections, every staff member; truth and hidden rows of
    those policies. The as-of date is the latest date in the slice."""
    from scoring.submission.intake import latest_date

    years = set(int(y) for y in np.atleast_1d(years))
    pol = world.tables["policies"]
    keep = pol["start_date"].dt.year.isin(years).to_numpy() if hasattr(pol["start_date"], "dt") else \
        pd.to_datetime(pol["start_date"]).dt.year.isin(years).to_numpy()
    ids = set(pol["policy_id"].to_numpy()[keep])
    tables = {"policies": pol[keep].reset_index(drop=True)}
    for name in ("services", "inspections", "claims"):
        if name in world.tables:
            t = world.tables[name]
            tables[name] = t[t["policy_id"].isin(ids).to_numpy()].reset_index(drop=True)
    if "staff" in world.tables:
        tables["staff"] = world.tables["staff"]
    tables = {k: tables[k] for k in world.tables}
    truth = world.truth[world.truth["policy_id"].isin(ids).to_numpy()].reset_index(drop=True)
    hidden = world.hidden[world.hidden["policy_id"].isin(ids).to_numpy()].reset_index(drop=True)
    return World(tables=tables, hidden=hidden, truth=truth, as_of=latest_date(tables), config=world.config,
                 untold=world.untold)


# ---------------------------------------------------------------------------------- writing


def _to_arrow(df: pd.DataFrame, table: str, zh: bool) -> pa.Table:
    cols = {}
    for c in TABLES[table].columns:
        v = df[c.name]
        if c.type == "date":
            arr = pa.array(pd.to_datetime(v).dt.date, pa.date32())
        elif c.type == "bool":
            arr = pa.array(np.where(v.to_numpy(dtype=bool), "是" if zh else "true", "否" if zh else "false"), pa.string())
        elif c.type == "int":
            arr = pa.array(pd.array(v, dtype="Int64"), pa.int64())
        elif c.type in ("money", "float"):
            arr = pa.array(v.to_numpy(dtype=float), pa.float64(), from_pandas=True)
        else:
            arr = pa.array(v.astype(object).where(v.notna(), None).to_numpy(), pa.string())
        cols[c.zh if zh else c.name] = arr
    return pa.table(cols)


def write_submission(world: World, out: str | Path, fmt: str = "csv", encoding: str = "utf-8", zh_headers: bool = False) -> Path:
    """Write the submission tables to folder ``out`` as ``csv``, ``parquet`` or ``jsonl``."""
    import pyarrow.parquet as pq

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in world.tables.items():
        t = _to_arrow(df, name, zh_headers)
        fname = (TABLES[name].zh if zh_headers else name) + "." + fmt
        if fmt == "csv":
            if encoding == "utf-8":
                pacsv.write_csv(t, out / fname)
            else:
                sink = pa.BufferOutputStream()
                pacsv.write_csv(t, sink)
                (out / fname).write_bytes(sink.getvalue().to_pybytes().decode("utf-8").encode(encoding))
        elif fmt == "parquet":
            pq.write_table(t, out / fname)
        elif fmt == "jsonl":
            df2 = t.to_pandas()
            df2.to_json(out / fname, orient="records", lines=True, force_ascii=False, date_format="iso")
        else:
            raise ValueError(f"unknown format {fmt}")
    return out


def market_configs(n_policies: int, seed: int, market: int = 1_000_000, **kw) -> list[Config]:
    """Configs of a submission too large to generate at once: markets of at most ``market``
    policies each, the first the world ``Config(n_policies, seed, **kw)`` would start with (tag
    ""), the others with seeds ``seed + k`` and entity tags ``M1``, ``M2``, … so that no two
    markets share a policy, service, staff member, agency, inspection or claim. They share the
    regions and insurers: a national platform's submission is several such markets side by side."""
    sizes = [market] * (n_policies // market) + ([n_policies % market] if n_policies % market else [])
    return [Config(n_policies=size, seed=seed + k, world=WorldParams(entity_tag=f"M{k}" if k else ""), **kw)
            for k, size in enumerate(sizes)]


def write_markets(configs: list[Config], out: str | Path) -> Path:
    """Generate each config's world in turn and append its tables to one CSV submission in ``out``,
    so that memory holds one market at a time (a million policies need about 7 GB)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for k, cfg in enumerate(configs):
        world = generate(cfg)
        for name, df in world.tables.items():
            with open(out / f"{name}.csv", "ab" if k else "wb") as f:
                pacsv.write_csv(_to_arrow(df, name, False), f, pacsv.WriteOptions(include_header=not k))
        del world
    return out


def write_xlsx(world: World, path: str | Path, zh: bool = True) -> Path:
    """Write the submission as one workbook (Chinese sheet names and headers by default)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        for name, df in world.tables.items():
            t = _to_arrow(df, name, zh).to_pandas()
            t.to_excel(xw, sheet_name=TABLES[name].zh if zh else name, index=False)
    return path


def write_truth(world: World, out: str | Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    world.truth.to_csv(out / "truth.csv", index=False, lineterminator="\n")
    world.hidden.to_csv(out / "hidden.csv", index=False, lineterminator="\n")
    (out / "as_of.txt").write_text(str(world.as_of.astype("datetime64[D]")) + "\n")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="生成合成安责险提交数据 / generate a synthetic submission")
    ap.add_argument("--policies", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="submission folder to write")
    ap.add_argument("--truth", help="folder for truth.csv and hidden.csv (kept out of the submission)")
    ap.add_argument("--format", default="csv", choices=["csv", "parquet", "jsonl"])
    ap.add_argument("--xlsx", help="also write the submission as an .xlsx workbook with Chinese sheets and headers")
    ap.add_argument("--no-staff", action="store_true")
    ap.add_argument("--snapshot", default="2025-12-31")
    ap.add_argument("--service-scale", type=float, default=1.0, help="multiply the number of service visits")
    ap.add_argument("--rulebook", help="tell (and plant, for rules the shipped rulebook lacks) this rulebook's truth")
    a = ap.parse_args(argv)
    w = generate(Config(n_policies=a.policies, seed=a.seed, with_staff=not a.no_staff, snapshot=a.snapshot,
                        service_scale=a.service_scale, rulebook=a.rulebook))
    write_submission(w, a.out, fmt=a.format)
    if a.truth:
        write_truth(w, a.truth)
    if a.xlsx:
        write_xlsx(w, a.xlsx)
    counts = {k: len(v) for k, v in w.tables.items()}
    print(f"写出 / wrote {a.out}: {counts}; as-of {w.as_of.astype('datetime64[D]')}")
    if w.untold:
        print("真值未知的规则（其检查类型只有生成器的情节能说明）/ rules whose truth is not told: " + ", ".join(w.untold))


if __name__ == "__main__":
    main()
